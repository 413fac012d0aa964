"""A YAML document read so that every value keeps its line: the config's `FILE:LINE: problem` errors.

Used by config.py (the whole file) and config_sources.py (pods_from_*); plain parsing, no I/O.
"""

from __future__ import annotations

import os
import re
from typing import Any

import yaml

from vecdash.errors import ConfigError

# `${VAR}` / `${VAR:-default}` in string values
ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class YamlDoc:
    """Walks a composed YAML node tree so every value keeps its line number."""

    def __init__(self, text: str, path: str):
        self.path = path
        self.loader = yaml.SafeLoader(text)

    def root(self) -> yaml.Node | None:
        try:
            return self.loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            # an unclosed quote or bracket is reported at the end of the file; its start is more useful
            if exc.context_mark and "end of stream" in (exc.problem or ""):
                mark = exc.context_mark
            line = mark.line + 1 if mark else None
            problem = (exc.problem or exc.context or "invalid YAML").strip()
            raise ConfigError(f"YAML syntax error: {problem}", self.path, line) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"YAML error: {exc}", self.path) from None
        finally:
            self.loader.dispose()

    def err(self, node: yaml.Node | None, problem: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(problem, self.path, line)

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.err(node, f"{what} must be a mapping")
        out, seen = [], set()
        for k, v in node.value:
            key = self.scalar(k)
            if not isinstance(key, str):
                raise self.err(k, f"{what}: keys must be strings")
            if key in seen:
                raise self.err(k, f"{what}: duplicate key {key!r}")
            seen.add(key)
            out.append((key, k, v))
        return out

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.err(node, "expected a single value")
        return self.loader.construct_object(node, deep=True)

    def string(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node)
        if not isinstance(value, str):
            raise self.err(node, f"{what} must be a string, got {type(value).__name__}")
        return self.interpolate(value, node, what)

    def interpolate(self, value: str, node: yaml.Node, what: str) -> str:
        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise self.err(node, f"{what}: environment variable {name} is not set")

        return ENV_RE.sub(sub, value)
