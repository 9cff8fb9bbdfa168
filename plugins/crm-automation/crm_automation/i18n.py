"""Labels the core translates at run time (menus, panels, widgets, entity and field names),
listed so that message extraction finds them for the plugin's catalogue."""

from flask_babel import lazy_gettext as _l

LABELS = (_l("Automation"),)
