"""The account every fresh sandbox starts with; ids come from the seeded id factory, in a fixed
order, so they are the same on every run with the same seed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sandbox.rdstation.ids import SEED_EPOCH, ObjectIdFactory
from sandbox.rdstation.models import CustomField, FieldOwner, FieldType, Pipeline, Stage, User

ORGANIZATION_NAME = "Acme Contratos (sandbox)"

SALES_STAGES = (
    ("Sem contato", "SC"),
    ("Contato feito", "CF"),
    ("Proposta enviada", "PE"),
    ("Em assinatura", "EA"),
    ("Contrato assinado", "CA"),
)
PARTNERSHIP_STAGES = (("Prospecção", "PR"), ("Negociação", "NE"), ("Parceria fechada", "PF"))
CONTRACT_TYPES = ["Novo cliente", "Renovação", "Aditivo"]


@dataclass(frozen=True)
class SeedIds:
    """Ids of the seeded records, for demos and tests."""

    instance_id: str
    owner_user_id: str
    second_user_id: str
    sales_pipeline_id: str
    partnerships_pipeline_id: str
    no_contact_stage_id: str
    awaiting_signature_stage_id: str
    signed_stage_id: str
    document_key_field_id: str
    signed_on_field_id: str
    contract_type_field_id: str
    cpf_field_id: str


@dataclass(frozen=True)
class SeedData:
    users: list[User]
    pipelines: list[Pipeline]
    custom_fields: list[CustomField]
    ids: SeedIds


def build_seed(new_id: ObjectIdFactory) -> SeedData:
    """The seeded account: two users, two pipelines, deal and contact custom fields."""
    created = SEED_EPOCH - timedelta(days=400)
    instance_id = new_id.next()
    owner = User(new_id.next(), "Ana Paula Souza", "ana.souza@acme.example", "AS", created, created)
    second = User(new_id.next(), "Bruno Lima", "bruno.lima@acme.example", "BL", created, created)
    sales = _pipeline(new_id, "Funil de Vendas", 1, SALES_STAGES, created)
    partnerships = _pipeline(new_id, "Parcerias", 2, PARTNERSHIP_STAGES, created)

    def custom(label: str, type_: FieldType, for_: FieldOwner, order: int) -> CustomField:
        return CustomField(new_id.next(), label, type_, for_, order, created, created)

    document_key = custom("Chave do documento Clicksign", "text", "deal", 1)
    signed_on = custom("Data de assinatura", "date", "deal", 2)
    contract_type = custom("Tipo de contrato", "option", "deal", 3)
    contract_type.opts = list(CONTRACT_TYPES)
    cpf = custom("CPF", "text", "contact", 1)
    cpf.unique = True
    ids = SeedIds(
        instance_id=instance_id,
        owner_user_id=owner.id,
        second_user_id=second.id,
        sales_pipeline_id=sales.id,
        partnerships_pipeline_id=partnerships.id,
        no_contact_stage_id=sales.stages[0].id,
        awaiting_signature_stage_id=sales.stages[3].id,
        signed_stage_id=sales.stages[4].id,
        document_key_field_id=document_key.id,
        signed_on_field_id=signed_on.id,
        contract_type_field_id=contract_type.id,
        cpf_field_id=cpf.id,
    )
    return SeedData(
        users=[owner, second],
        pipelines=[sales, partnerships],
        custom_fields=[document_key, signed_on, contract_type, cpf],
        ids=ids,
    )


def _pipeline(
    new_id: ObjectIdFactory,
    name: str,
    order: int,
    stages: tuple[tuple[str, str], ...],
    created: datetime,
) -> Pipeline:
    pipeline_id = new_id.next()
    built = [
        Stage(new_id.next(), stage, nickname, position, pipeline_id, created, created)
        for position, (stage, nickname) in enumerate(stages, start=1)
    ]
    return Pipeline(pipeline_id, name, order, built, created, created)
