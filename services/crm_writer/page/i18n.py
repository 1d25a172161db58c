"""The page's words and times for one viewer: Portuguese (Brazil) unless the browser prefers
English, times in America/Sao_Paulo unless the viewer chose another zone.

The catalogue is a dict of message ids; each message has a Portuguese and an English text,
``str.format`` fields filled by the templates (which escape the result like any other value).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PORTUGUESE = "pt-BR"
ENGLISH = "en"
LANGUAGES = (PORTUGUESE, ENGLISH)
DEFAULT_ZONE = "America/Sao_Paulo"
# The zones the preferences form offers: Brazil's, then a few an operator abroad may use.
ZONES = (
    "America/Sao_Paulo",
    "America/Manaus",
    "America/Cuiaba",
    "America/Belem",
    "America/Fortaleza",
    "America/Recife",
    "America/Bahia",
    "America/Porto_Velho",
    "America/Boa_Vista",
    "America/Rio_Branco",
    "America/Noronha",
    "UTC",
    "Europe/Lisbon",
    "America/New_York",
)
# Accept-Language is read up to this many entries (a header is the client's to make long).
_MAX_LANGUAGE_RANGES = 20
_TIME_FORMATS = {PORTUGUESE: "%d/%m/%Y %H:%M:%S", ENGLISH: "%Y-%m-%d %H:%M:%S"}


def negotiate_language(accept_language: str | None) -> str:
    """`ENGLISH` when the browser ranks English above Portuguese, `PORTUGUESE` otherwise."""
    best: dict[str, float] = {}
    for item in (accept_language or "").split(",")[:_MAX_LANGUAGE_RANGES]:
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        language = {"pt": PORTUGUESE, "en": ENGLISH}.get(primary)
        if language is not None:
            best[language] = max(best.get(language, 0.0), _quality(params))
    english, portuguese = best.get(ENGLISH, 0.0), best.get(PORTUGUESE, 0.0)
    return ENGLISH if english > portuguese else PORTUGUESE


def _quality(params: str) -> float:
    name, _, value = params.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        quality = float(value.strip()[:5])
    except ValueError:
        return 0.0
    return quality if 0.0 <= quality <= 1.0 else 0.0


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone ``name`` when it is one the page offers, else None."""
    if name not in ZONES:
        return None
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        return None


@dataclass(frozen=True)
class Viewer:
    """Who reads the page: their language and time zone; ``chosen_language`` is the language
    they picked on the page (None: their browser's)."""

    language: str = PORTUGUESE
    zone_name: str = DEFAULT_ZONE
    chosen_language: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.zone_name) or ZoneInfo(DEFAULT_ZONE)

    def t(self, message_id: str, **fields: object) -> str:
        """The message in the viewer's language (its id when the catalogue lacks it)."""
        texts = CATALOGUE.get(message_id)
        if texts is None:
            return message_id
        text = texts[0] if self.language == PORTUGUESE else texts[1]
        return text.format(**fields) if fields else text

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def when(self, moment: datetime | str | None) -> str:
        """``moment`` in the viewer's zone and format; an empty string for None."""
        if moment is None:
            return ""
        if isinstance(moment, str):
            try:
                parsed = datetime.fromisoformat(moment)
            except ValueError:
                return moment
        else:
            parsed = moment
        return self.local(parsed).strftime(_TIME_FORMATS[self.language])


# message id: (Portuguese, English)
CATALOGUE: dict[str, tuple[str, str]] = {
    "title": ("Histórico do signdeal", "signdeal history"),
    "history": ("Histórico", "History"),
    "all": ("Todos", "All"),
    "status.done": ("Concluído", "Done"),
    "status.retrying": ("Tentando de novo", "Retrying"),
    "status.parked": ("Parado", "Parked"),
    "status.ignored": ("Ignorado", "Ignored"),
    "status.duplicate": ("Duplicado", "Duplicate"),
    "status.processing": ("Processando", "Processing"),
    "status.failed": ("Falhou", "Failed"),
    "filter.document": ("Documento (chave ou nome do arquivo)", "Document (key or file name)"),
    "filter.email": ("E-mail de quem assinou", "Signer's e-mail"),
    "filter.from": ("De", "From"),
    "filter.to": ("Até", "To"),
    "filter.apply": ("Filtrar", "Filter"),
    "filter.clear": ("Limpar filtros", "Clear filters"),
    "filter.bad_date": ("Data inválida: {value}", "Not a date: {value}"),
    "filter.bad_status": ("Situação desconhecida: {value}", "No such status: {value}"),
    "column.status": ("Status", "Status"),
    "column.document": ("Documento", "Document"),
    "column.signers": ("Signatários", "Signers"),
    "column.deal": ("Negócio", "Deal"),
    "column.attempts": ("Tentativas", "Attempts"),
    "column.when": ("Quando", "When"),
    "list.empty": ("Nenhum evento encontrado.", "No events match."),
    "list.page": ("Página {page} de {pages}", "Page {page} of {pages}"),
    "list.previous": ("← Mais recentes", "← Newer"),
    "list.next": ("Mais antigos →", "Older →"),
    "list.refresh_on": ("Atualizar a cada {seconds} s", "Refresh every {seconds} s"),
    "list.refresh_off": ("Parar de atualizar", "Stop refreshing"),
    "times_in": ("Horários em {zone}", "Times in {zone}"),
    "details": ("Detalhes", "Details"),
    "details.event": ("Evento", "Event"),
    "details.received": ("Recebido", "Received"),
    "details.first_attempt": ("Primeira tentativa", "First attempt"),
    "details.last_attempt": ("Última tentativa", "Last attempt"),
    "details.finished": ("Terminado", "Finished"),
    "details.took": ("Duração", "Took"),
    "details.correlation": ("ID de correlação", "Correlation id"),
    "details.error": ("Erro", "Error"),
    "details.note": ("Observação", "Note"),
    "details.from_clicksign": ("Recebido da Clicksign", "Received from Clicksign"),
    "details.document_key": ("Chave do documento", "Document key"),
    "details.filename": ("Arquivo", "File"),
    "details.document_status": ("Status do documento", "Document status"),
    "details.signer": ("Quem assinou", "Signed by"),
    "details.occurred": ("Aconteceu em", "Happened at"),
    "details.payload": ("Payload da Clicksign como recebido", "Clicksign payload as received"),
    "details.payload_removed": (
        "{count} campo(s) não guardado(s) (ver _removed)",
        "{count} field(s) not stored (see _removed)",
    ),
    "details.event_json": ("Evento como o signdeal o leu", "The event as signdeal read it"),
    "details.derived": ("O que o signdeal deriva", "What signdeal derives"),
    "details.derived_hint": (
        "Calculado agora com a configuração atual, pelas mesmas funções do crm_writer.",
        "Computed now with the current configuration, by crm_writer's own functions.",
    ),
    "details.derived_later": (
        "Disponível quando o crm_writer tiver verificado o RD Station (token e etapa).",
        "Available once crm_writer has checked RD Station (token and stage).",
    ),
    "details.derived_unreadable": (
        "O evento guardado não pôde ser lido: {reason}",
        "The stored event could not be read: {reason}",
    ),
    "details.skip": (
        "Nada a fazer no RD Station: {reason}",
        "Nothing to do in RD Station: {reason}",
    ),
    "details.rule": ("Regra", "Rule"),
    "details.deal_title": ("Título do negócio", "Deal title"),
    "details.stage": ("Etapa ao criar", "Stage when created"),
    "details.move_to": ("Move para a etapa", "Moves to stage"),
    "details.win": ("Marca como ganho", "Marks as won"),
    "details.lose": ("Marca como perdido", "Marks as lost"),
    "details.may_create": ("Pode criar o negócio", "May create the deal"),
    "details.custom_fields": ("Campos personalizados", "Custom fields"),
    "details.link_signers": ("Contatos a vincular", "Contacts to link"),
    "details.left_out": ("Deixado de fora", "Left out"),
    "details.none": ("nenhum", "none"),
    "yes": ("sim", "yes"),
    "no": ("não", "no"),
    "details.requests": ("Requisições enviadas", "Requests sent"),
    "details.no_requests": ("Nenhuma requisição ainda.", "No requests yet."),
    "details.sent": ("Enviado", "Sent"),
    "details.answer": ("Resposta", "Answer"),
    "details.no_answer": ("sem resposta", "no answer"),
    "details.failures": ("Falhas e novas tentativas", "Failures and retries"),
    "details.attempts_summary": (
        "{attempts} tentativa(s), {duplicates} entrega(s) duplicada(s)",
        "{attempts} attempt(s), {duplicates} duplicate delivery(ies)",
    ),
    "details.replays": ("Reenvios", "Replays"),
    "details.replayed_by": ("Reenviado por {who} em {when}", "Replayed by {who} at {when}"),
    "details.document_events": ("Outros eventos deste documento", "This document's other events"),
    "details.open_deal": ("Abrir o negócio {deal} no RD Station", "Open deal {deal} in RD Station"),
    "details.open_sandbox_deal": (
        "Negócio {deal} no sandbox do RD Station",
        "Deal {deal} in the RD Station sandbox",
    ),
    "details.not_found": ("Evento não encontrado: {key}", "No such event: {key}"),
    "document.not_found": ("Documento não encontrado: {key}", "No such document: {key}"),
    "parked.why": ("Por que parou", "Why it was parked"),
    "parked.replay": ("Reenviar", "Replay"),
    "parked.replay_all": (
        "Reenviar todos os parados ({count})",
        "Replay every parked event ({count})",
    ),
    "parked.broker_down": (
        "O broker (RabbitMQ) está fora do alcance do crm_writer: não é possível reenviar agora.",
        "The broker (RabbitMQ) is out of crm_writer's reach: replay is not possible now.",
    ),
    "replay.done": (
        "{count} evento(s) reenviado(s) para a fila de trabalho.",
        "{count} event(s) sent back to the work queue.",
    ),
    "replay.missing": (
        "Não estava(m) no estacionamento: {ids}",
        "Not in the parking lot: {ids}",
    ),
    "replay.nothing": ("Nenhum evento parado para reenviar.", "No parked event to replay."),
    "replay.stopped": ("O reenvio parou: {error}", "The replay stopped: {error}"),
    "replay.truncated": (
        "O estacionamento não foi lido até o fim: reenvie de novo para o resto.",
        "The parking lot was not read to the end: replay again for the rest.",
    ),
    "document": ("Documento", "Document"),
    "document.deal": ("Negócio deste documento", "This document's deal"),
    "document.no_deal": ("Nenhum negócio registrado ainda.", "No deal recorded yet."),
    "document.events": ("Eventos, do mais antigo ao mais recente", "Events, oldest first"),
    "login": ("Entrar", "Sign in"),
    "login.name": ("Seu nome (fica registrado nos reenvios)", "Your name (recorded with replays)"),
    "login.token": (
        "Token do histórico (CRM_WRITER_API_TOKEN)",
        "History token (CRM_WRITER_API_TOKEN)",
    ),
    "login.refused": ("Token incorreto.", "Wrong token."),
    "login.name_needed": ("Diga seu nome.", "Say your name."),
    "logout": ("Sair", "Sign out"),
    "signed_in_as": ("Conectado como {who}", "Signed in as {who}"),
    "preferences": ("Preferências", "Preferences"),
    "preferences.language": ("Idioma", "Language"),
    "preferences.language_auto": ("Do navegador", "The browser's"),
    "preferences.zone": ("Fuso horário", "Time zone"),
    "preferences.save": ("Salvar", "Save"),
    "sandbox_mode": (
        "MODO SANDBOX: sem RDSTATION_CRM_TOKEN, os negócios vão para o sandbox do RD Station.",
        "SANDBOX MODE: without RDSTATION_CRM_TOKEN, deals go to the RD Station sandbox.",
    ),
    "forbidden": ("Pedido recusado", "Request refused"),
    "forbidden.form": (
        "O formulário expirou ou veio de outro site. Recarregue a página e tente de novo.",
        "The form expired or came from another site. Reload the page and try again.",
    ),
    "back_to_list": ("Voltar ao histórico", "Back to the history"),
}
