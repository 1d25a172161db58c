"""Clicksign's API: the client that completes thin webhooks, its errors and its rate limiter."""

from services.crm_writer.clicksign.client import ApiVersionMemory, ClicksignClient, TokenCheck
from services.crm_writer.clicksign.documents import API_1, API_3, ClicksignDocument
from services.crm_writer.clicksign.errors import (
    ClicksignError,
    ClicksignNotFound,
    ClicksignRateLimited,
    ClicksignRejected,
    ClicksignUnauthorized,
    ClicksignUnavailable,
)
from services.crm_writer.clicksign.ratelimit import ClicksignRateLimiter

__all__ = [
    "API_1",
    "API_3",
    "ApiVersionMemory",
    "ClicksignClient",
    "ClicksignDocument",
    "ClicksignError",
    "ClicksignNotFound",
    "ClicksignRateLimited",
    "ClicksignRateLimiter",
    "ClicksignRejected",
    "ClicksignUnauthorized",
    "ClicksignUnavailable",
    "TokenCheck",
]
