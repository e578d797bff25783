"""How a run config is loaded: YAML files, ``base`` links, ``--set`` overrides, clear errors.

A run is described by one YAML file and nothing else. A file may name a ``base`` config (a path
relative to itself) that it overrides; ``--set key.sub=value`` overrides come last. Overrides are
deep-merged: mappings merge key by key, any other value replaces, and ``null`` removes a key so that
its default applies again. The merged mapping is validated by
:class:`~msk1model.config.schema.RunConfig` before any work starts; unknown keys, wrong types and
impossible values raise :class:`~msk1model.errors.ConfigError` naming the key, the rule, the value
found and the allowed keys (with a did-you-mean).
"""

from __future__ import annotations

import copy
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from msk1model.config.schema import RunConfig
from msk1model.errors import ConfigError

__all__ = ["load_config", "parse_set_option", "validate_config"]


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Load ``path`` (following ``base`` links), apply ``--set`` overrides and validate.

    Parameters
    ----------
    path
        A YAML run config or experiment file.
    overrides
        ``key.sub=value`` strings; values are parsed as YAML (``5``, ``0.1``, ``[3, 5]``, ``null``).

    Raises
    ------
    ConfigError
        On a missing or unreadable file, a ``base`` cycle, a bad ``--set`` or a schema violation.
    """
    raw = _load_with_bases(Path(path), chain=())
    for text in overrides:
        keys, value = parse_set_option(text)
        _check_known_path(keys, text)
        raw = _deep_merge(raw, _nest(keys, value))
    return validate_config(raw, source=str(path))


def validate_config(raw: Mapping[str, Any], source: str = "<config>") -> RunConfig:
    """Validate a merged mapping against :class:`RunConfig`, with field-named errors."""
    try:
        return RunConfig.model_validate(dict(raw))
    except ValidationError as exc:
        lines = [_describe_error(err, raw) for err in exc.errors()]
        raise ConfigError(
            f"invalid config {source}: {len(lines)} problem(s)\n  - " + "\n  - ".join(lines)
        ) from None


def parse_set_option(text: str) -> tuple[list[str], Any]:
    """Split ``key.sub=value`` into ``(["key", "sub"], parsed_value)``."""
    key, sep, value_text = text.partition("=")
    keys = key.strip().split(".")
    if not sep or not all(keys):
        raise ConfigError(
            f"--set expects KEY.SUB=VALUE (e.g. --set tuning.n_trials=5), but got {text!r}"
        )
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({exc})") from None
    return keys, value


def _load_with_bases(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ConfigError(f"config 'base' links form a cycle: {cycle}; remove one 'base' key")
    raw = _read_yaml(path)
    base = raw.pop("base", None)
    if base is None:
        return raw
    if not isinstance(base, str):
        raise ConfigError(f"config key 'base' in {path} must be a path string, but got {base!r}")
    parent = _load_with_bases(path.parent / base, (*chain, resolved))
    return _deep_merge(parent, raw)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass the path of a YAML run config")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of keys, but holds a {type(raw).__name__}"
        )
    return raw


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _nest(keys: Sequence[str], value: Any) -> dict[str, Any]:
    nested: Any = value
    for key in reversed(keys):
        nested = {key: nested}
    return typing.cast(dict[str, Any], nested)


def _check_known_path(keys: Sequence[str], text: str) -> None:
    """Reject a ``--set`` whose key path the schema does not have."""
    model: Any = RunConfig
    for depth, key in enumerate(keys):
        fields = model.model_fields
        if key not in fields:
            where = ".".join(keys[:depth]) or "the top level"
            hint = _did_you_mean(key, fields)
            raise ConfigError(
                f"--set {text!r}: {where} has no key {key!r}{hint}; "
                f"allowed keys: {', '.join(sorted(fields))}"
            )
        model = _submodel(fields[key].annotation)
        if model is None:  # a mapping, list or scalar: the schema validates what lies below
            return


def _submodel(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is typing.Annotated:
        return _submodel(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        models = [m for m in map(_submodel, typing.get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    return None


def _did_you_mean(key: str, candidates: Any) -> str:
    close = difflib.get_close_matches(key, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe_error(err: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    loc = [str(part) for part in err["loc"] if not str(part).startswith(("function-", "tagged-"))]
    key = ".".join(loc) or "<top level>"
    if err["type"] == "extra_forbidden":
        siblings = _allowed_keys(loc[:-1])
        hint = _did_you_mean(loc[-1], siblings)
        return (
            f"config key '{key}' is not allowed (unknown key){hint}; "
            f"allowed keys here: {', '.join(sorted(siblings))}"
        )
    if err["type"] == "missing":
        return f"config key '{key}' is required but missing; add it to the config"
    found = err.get("input")
    found_text = "" if isinstance(found, Mapping) else f" (found: {found!r})"
    return f"config key '{key}': {err['msg']}{found_text}"


def _allowed_keys(loc: Sequence[str]) -> list[str]:
    model: Any = RunConfig
    skip_dict_key = False
    for key in loc:
        if skip_dict_key:  # the user-chosen key of a mapping such as `models`
            skip_dict_key = False
            continue
        if model is None or key not in model.model_fields:
            return []
        annotation = model.model_fields[key].annotation
        sub = _submodel(annotation)
        if sub is None and typing.get_origin(annotation) is dict:
            sub = _submodel(typing.get_args(annotation)[1])
            skip_dict_key = True
        model = sub
    return list(model.model_fields) if model is not None else []
