"""Labels the core translates at run time (menus, panels, widgets, entity and field names),
listed so that message extraction finds them for the plugin's catalogue."""

from flask_babel import lazy_gettext as _l

LABELS = (
    _l("Automation"),
    # workflow rules: the menu, the entity, its fields, the permission, the builder's days
    _l("Workflows"),
    _l("Workflow"),
    _l("Entity"),
    _l("Trigger"),
    _l("Conditions"),
    _l("Actions"),
    _l("Active"),
    _l("System"),
    _l("Sequence"),
    _l("Exit conditions"),
    _l("Create and change system workflow rules"),
    _l("Rule builder"),
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
    _l("low"),
    _l("normal"),
    _l("high"),
)
