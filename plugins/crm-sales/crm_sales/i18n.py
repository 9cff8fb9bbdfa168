"""Strings shown at run time (menu, panels, widgets, entity titles, field labels), listed so
that ``pybabel extract`` sees them; the core translates them through the merged catalogue."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

RUNTIME_STRINGS = (
    # menu, widgets, panels, entities
    _l("Leads"),
    _l("Lead"),
    _l("Deals"),
    _l("Deal"),
    _l("Quotes"),
    _l("Quote"),
    _l("Orders"),
    _l("Order"),
    _l("Products"),
    _l("Product"),
    _l("Price lists"),
    _l("Price list"),
    _l("Shipments"),
    _l("Shipment"),
    _l("Stages"),
    _l("Stage"),
    _l("Pipeline"),
    _l("Pipeline by stage"),
    _l("Forecast by quarter"),
    _l("Sales by owner"),
    _l("Win rate"),
    # field labels
    _l("Carrier"),
    _l("Close date"),
    _l("Converted at"),
    _l("Currency"),
    _l("Customer group"),
    _l("Delivered at"),
    _l("Discount percent"),
    _l("Is lost"),
    _l("Is won"),
    _l("Lines"),
    _l("Lost reason"),
    _l("Net"),
    _l("Order date"),
    _l("Prices"),
    _l("Probability"),
    _l("Score"),
    _l("Sent at"),
    _l("Shipped at"),
    _l("Sku"),
    _l("Stage changed at"),
    _l("Tax rate"),
    _l("Tax total"),
    _l("Tracking number"),
    _l("Unit price"),
    _l("Quantity"),
)
