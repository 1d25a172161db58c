"""RD Station CRM v1: the HTTP client, its errors and its rate limiter."""

from services.crm_writer.rdstation.client import RdCall, RdStationClient
from services.crm_writer.rdstation.errors import (
    RdStationError,
    RdStationForbidden,
    RdStationNotFound,
    RdStationRateLimited,
    RdStationRejected,
    RdStationUnauthorized,
    RdStationUnavailable,
)
from services.crm_writer.rdstation.ratelimit import RdRateLimiter

__all__ = [
    "RdCall",
    "RdRateLimiter",
    "RdStationClient",
    "RdStationError",
    "RdStationForbidden",
    "RdStationNotFound",
    "RdStationRateLimited",
    "RdStationRejected",
    "RdStationUnauthorized",
    "RdStationUnavailable",
]
