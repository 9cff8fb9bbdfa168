"""Which column of a file fills which field: automatic header matching or a mapping file.

Targets are field names of the entity's schema (``email``), custom fields (``custom.level``)
or ``@company`` (a company looked up, or created, by name to fill ``company_id``).
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import fields as mm

from ..registry import SYSTEM_FIELDS, Entity
from .reading import ImportFileError

COMPANY = "@company"
CUSTOM = "custom."

#: Normalised header -> targets in order of preference (the first the entity has wins).
SYNONYMS: dict[str, tuple[str, ...]] = {
    # e-mail
    **dict.fromkeys(
        (
            "e mail",
            "mail",
            "email address",
            "e mail address",
            "mail address",
            "correo",
            "correo electronico",
            "email 1",
            "e mail 1",
            "direccion de correo",
            "direccion de correo electronico",
            "direccion de email",
            "email principal",
        ),
        ("email",),
    ),
    # phones
    **dict.fromkeys(
        (
            "telephone",
            "tel",
            "phone number",
            "telefono",
            "numero de telefono",
            "business phone",
            "work phone",
            "office phone",
            "telefono fijo",
            "telefono trabajo",
            "fijo",
            "phone 1",
        ),
        ("phone",),
    ),
    **dict.fromkeys(
        (
            "mobile phone",
            "mobile number",
            "cell",
            "cell phone",
            "cellphone",
            "movil",
            "telefono movil",
            "celular",
            "numero movil",
        ),
        ("mobile",),
    ),
    # names
    **dict.fromkeys(
        ("first", "firstname", "given name", "forename", "nombre de pila"), ("first_name",)
    ),
    "nombre": ("first_name", "name"),
    **dict.fromkeys(
        (
            "last",
            "lastname",
            "surname",
            "family name",
            "apellido",
            "apellidos",
            "primer apellido",
        ),
        ("last_name",),
    ),
    **dict.fromkeys(("job title", "position", "cargo", "puesto", "titulo", "job"), ("title",)),
    # companies
    **dict.fromkeys(
        (
            "company",
            "company name",
            "empresa",
            "compania",
            "organization",
            "organisation",
            "organizacion",
            "account",
            "account name",
            "razon social",
            "nombre de la empresa",
        ),
        (COMPANY, "name"),
    ),
    # addresses
    **dict.fromkeys(
        ("address", "street address", "direccion", "calle", "domicilio", "address 1"), ("street",)
    ),
    **dict.fromkeys(("ciudad", "town", "localidad", "poblacion", "municipio"), ("city",)),
    **dict.fromkeys(
        ("state", "province", "provincia", "estado", "comunidad", "county"), ("region",)
    ),
    **dict.fromkeys(
        ("zip", "zip code", "zipcode", "postcode", "post code", "codigo postal", "cp"),
        ("postal_code",),
    ),
    **dict.fromkeys(("pais", "country code", "codigo de pais", "nation"), ("country",)),
    # other
    **dict.fromkeys(("labels", "etiquetas", "tag", "etiqueta"), ("tags",)),
    **dict.fromkeys(
        (
            "notes",
            "note",
            "notas",
            "nota",
            "descripcion",
            "comments",
            "comentarios",
            "observaciones",
        ),
        ("description", "body"),
    ),
    **dict.fromkeys(
        ("web", "web site", "sitio web", "pagina web", "url", "homepage"), ("website",)
    ),
    **dict.fromkeys(("dominio",), ("domain",)),
    **dict.fromkeys(("sector", "industria"), ("industry",)),
    **dict.fromkeys(("lead source", "origen", "fuente"), ("source",)),
    **dict.fromkeys(("time zone", "zona horaria"), ("timezone",)),
    **dict.fromkeys(("language", "idioma", "lengua"), ("locale",)),
    **dict.fromkeys(("asunto",), ("subject",)),
}


def normalise(text: str) -> str:
    """Lower case, no accents, words separated by one space: ``Correo_Electrónico`` ->
    ``correo electronico``."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\ufeff", ""))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return re.sub(r"[^a-z0-9]+", " ", plain).strip()


@dataclass
class FieldSet:
    """What a file can fill in for one entity: schema fields by name, custom field names."""

    entity: Entity
    schema_fields: dict[str, mm.Field]
    custom: dict[str, str]  # custom field name -> label
    company_lookup: bool

    @classmethod
    def of(cls, entity: Entity, custom_defs: Iterable[Any], has_companies: bool) -> FieldSet:
        schema = entity.create_schema
        loadable = {
            name: f
            for name, f in schema.fields.items()
            if not f.dump_only and name not in SYSTEM_FIELDS and name != "custom_fields"
        }
        custom = {d.name: d.label for d in custom_defs} if entity.has_custom_fields else {}
        return cls(entity, loadable, custom, has_companies and "company_id" in loadable)

    def targets(self) -> list[str]:
        names = [*self.schema_fields, *(CUSTOM + n for n in self.custom)]
        return [*names, COMPANY] if self.company_lookup else names

    def has(self, target: str) -> bool:
        if target == COMPANY:
            return self.company_lookup
        if target.startswith(CUSTOM):
            return target[len(CUSTOM) :] in self.custom
        return target in self.schema_fields


@dataclass
class ColumnMap:
    """The target of each column (``None``: ignored) and notes for the user."""

    targets: list[str | None]
    ignored: list[str] = field(default_factory=list)

    def describe(self, header: Sequence[str]) -> dict[str, str]:
        return {h: t for h, t in zip(header, self.targets, strict=False) if t}


def _auto_target(header: str, fields: FieldSet) -> str | None:
    key = normalise(header)
    if not key:
        return None
    by_name = {normalise(t.replace(".", " ")): t for t in fields.targets() if t != COMPANY}
    by_name.update({normalise(t): t for t in fields.schema_fields})
    if key in by_name:
        return by_name[key]
    for name, label in fields.custom.items():
        if key in (normalise(name), normalise(label)):
            return CUSTOM + name
    for target in SYNONYMS.get(key, ()):
        if fields.has(target):
            return target
    return None


def map_columns(
    header: Sequence[str], fields: FieldSet, explicit: Mapping[str, str | None] | None = None
) -> ColumnMap:
    """Map each header to a target; ``explicit`` (header -> target or ``None``) comes first.

    Raises ``ImportFileError`` when the mapping names unknown fields or columns, or when no
    column can be used at all.
    """
    explicit = dict(explicit or {})
    by_norm = {normalise(k): v for k, v in explicit.items()}
    unknown_targets = sorted(str(t) for t in explicit.values() if t and not fields.has(t))
    if unknown_targets:
        raise ImportFileError(
            f"the mapping names unknown fields of {fields.entity.plural}: "
            f"{', '.join(unknown_targets)} (known: {', '.join(fields.targets())})"
        )
    normalised_header = {normalise(h) for h in header}
    missing = sorted(k for k in explicit if normalise(k) not in normalised_header)
    if missing:
        raise ImportFileError(
            f"the mapping names columns the file does not have: {', '.join(missing)}"
        )
    targets: list[str | None] = []
    ignored: list[str] = []
    used: set[str] = set()
    for cell in header:
        if cell in explicit or normalise(cell) in by_norm:
            target = explicit.get(cell, by_norm.get(normalise(cell))) or None
        else:
            target = _auto_target(cell, fields)
        if target is not None and target in used:
            target = None  # the first column for a field wins
        if target is None:
            ignored.append(cell)
        else:
            used.add(target)
        targets.append(target)
    if not used:
        raise ImportFileError(
            f"no recognisable header: none of the columns ({', '.join(header)[:300]}) matches "
            f"a field of {fields.entity.plural} ({', '.join(fields.targets())}); "
            "the first line must name the columns, or give --mapping"
        )
    return ColumnMap(targets, ignored)


def load_mapping(path: Path) -> dict[str, str | None]:
    """A mapping file: a JSON object ``{"Header": "field"}`` or a two-column CSV."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"cannot read the mapping file {path}: {exc}") from None
    return parse_mapping(text)


def parse_mapping(text: str) -> dict[str, str | None]:
    """Parse mapping text (JSON object or two-column CSV)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"the mapping is not valid JSON: {exc}") from None
        if not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in data.items()
        ):
            raise ImportFileError(
                "the mapping must map column names to field names: "
                '{"E-mail": "email", "Unused": null}'
            )
        return {k: (v.strip() or None) if v else None for k, v in data.items()}
    mapping: dict[str, str | None] = {}
    try:
        dialect = csv.Sniffer().sniff(stripped[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    for row in csv.reader(stripped.splitlines(), dialect):
        if not row or not row[0].strip():
            continue
        if len(row) < 2:
            raise ImportFileError("each line of a CSV mapping needs: column,field")
        if normalise(row[0]) in ("column", "header", "columna") and normalise(row[1]) in (
            "field",
            "campo",
            "target",
        ):
            continue
        mapping[row[0].strip()] = row[1].strip() or None
    if not mapping:
        raise ImportFileError("the mapping file is empty")
    return mapping
