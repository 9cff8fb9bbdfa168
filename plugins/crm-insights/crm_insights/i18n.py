"""Labels the core translates at run time (menus, panels, widgets, entity and field names),
listed so that message extraction finds them for the plugin's catalogue."""

from flask_babel import lazy_gettext as _l

LABELS = (
    _l("Insights"),
    # customer analysis: menu, panel, contact fields and the segments (choice values)
    _l("Customer segments"),
    _l("Cohort retention"),
    _l("Customer value"),
    _l("Next best offers"),
    _l("Call list"),
    _l("Win probability"),
    _l("Conversion probability"),
    _l("Prediction models"),
    _l("Customers who bought this also bought"),
    _l("RFM segment"),
    _l("RFM score"),
    _l("Lifetime value"),
    _l("Churn risk"),
    _l("Purchase propensity"),
    _l("Enter a whole number of days from 7 to 730."),
    _l("Champions"),
    _l("Loyal"),
    _l("New"),
    _l("Promising"),
    _l("Need attention"),
    _l("At risk"),
    _l("Hibernating"),
    _l("Lost"),
)
