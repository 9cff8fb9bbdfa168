"""The entities of the sales plugin: the registry derives API, pages, search and the rest."""

from __future__ import annotations

from crmcore import Entity

from . import models as m
from . import schemas as s
from .actions import lead_actions, quote_actions
from .deals import prepare_deal, prepare_stage
from .documents import prepare_order, prepare_quote
from .forecast import prepare_quota
from .leads import prepare_lead
from .prefill import order_prefill, quote_prefill
from .shipments import prepare_shipment, shipment_actions, shipment_prefill


def _prepare_prices(values: dict, record: object, service: object) -> None:
    """Keep prices as decimal strings in JSON (never floats)."""
    if values.get("prices") is not None:
        values["prices"] = {str(k): str(v) for k, v in values["prices"].items()}


def entities() -> list[Entity]:
    """Every entity this plugin owns, in the order of the menu."""
    return [
        Entity(
            name="lead",
            model=m.Lead,
            schema=s.LeadSchema,
            plural="leads",
            title="Lead",
            title_fields=("first_name", "last_name", "company_name"),
            search_fields=("first_name", "last_name", "email", "company_name"),
            list_columns=(
                "first_name",
                "last_name",
                "company_name",
                "email",
                "status",
                "score",
                "source",
                "owner_id",
            ),
            filter_fields=("contact_id", "company_id", "deal_id"),
            prepare=prepare_lead,
            actions=lead_actions(),
        ),
        Entity(
            name="pipeline",
            model=m.Pipeline,
            schema=s.PipelineSchema,
            plural="pipelines",
            title="Pipeline",
            owner_field=None,
            list_columns=("name", "position"),
            search_fields=("name",),
        ),
        Entity(
            name="stage",
            model=m.Stage,
            schema=s.StageSchema,
            plural="stages",
            title="Stage",
            owner_field=None,
            list_columns=("pipeline_id", "name", "position", "probability", "is_won", "is_lost"),
            prepare=prepare_stage,
        ),
        Entity(
            name="deal",
            model=m.Deal,
            schema=s.DealSchema,
            plural="deals",
            title="Deal",
            title_fields=("title",),
            search_fields=("title",),
            list_columns=(
                "title",
                "amount",
                "currency",
                "stage_id",
                "probability",
                "close_date",
                "owner_id",
            ),
            filter_fields=("pipeline_id", "contact_id", "company_id"),
            prepare=prepare_deal,
        ),
        Entity(
            name="product",
            model=m.Product,
            schema=s.ProductSchema,
            plural="products",
            title="Product",
            owner_field=None,
            search_fields=("sku", "name", "description"),
            list_columns=("sku", "name", "tax_rate", "active"),
            prepare=_prepare_prices,
        ),
        Entity(
            name="price_list",
            model=m.PriceList,
            schema=s.PriceListSchema,
            plural="price_lists",
            title="Price list",
            owner_field=None,
            list_columns=("name", "currency", "customer_group", "active"),
            prepare=_prepare_prices,
        ),
        Entity(
            name="quote",
            model=m.Quote,
            schema=s.QuoteSchema,
            plural="quotes",
            title="Quote",
            title_fields=("number", "title"),
            search_fields=("number", "title"),
            list_columns=(
                "number",
                "title",
                "status",
                "total",
                "currency",
                "valid_until",
                "owner_id",
            ),
            filter_fields=("contact_id", "company_id", "deal_id"),
            prepare=prepare_quote,
            prefill=quote_prefill,
            actions=quote_actions(),
        ),
        Entity(
            name="order",
            model=m.Order,
            schema=s.OrderSchema,
            plural="orders",
            title="Order",
            title_fields=("number",),
            search_fields=("number",),
            list_columns=("number", "status", "total", "currency", "order_date", "owner_id"),
            filter_fields=("contact_id", "company_id", "quote_id", "deal_id"),
            prepare=prepare_order,
            prefill=order_prefill,
        ),
        Entity(
            name="shipment",
            model=m.Shipment,
            schema=s.ShipmentSchema,
            plural="shipments",
            title="Shipment",
            title_fields=("carrier", "tracking_number"),
            search_fields=("carrier", "tracking_number"),
            list_columns=(
                "order_id",
                "carrier",
                "tracking_number",
                "status",
                "shipped_at",
                "delivered_at",
            ),
            filter_fields=("order_id",),
            prepare=prepare_shipment,
            prefill=shipment_prefill,
            actions=shipment_actions(),
        ),
        Entity(
            name="quota",
            model=m.Quota,
            schema=s.QuotaSchema,
            plural="quotas",
            title="Quota",
            title_fields=("period",),
            search_fields=("period",),
            list_columns=("period", "owner_id", "amount"),
            filter_fields=("period",),
            prepare=prepare_quota,
        ),
    ]
