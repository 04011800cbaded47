"""How much the manifests may hold, so that a broken or hostile input fails fast with one located error.

The defaults are far above any real repository's manifests (a large one is a few hundred kilobytes in a
few dozen files) and keep the worst case to seconds and a few hundred megabytes. Each limit is checked
before the work it bounds: sizes by stat before a file is read, the number of files while the
directories are listed, depth, scalar length and the number of values (each alias counted as the values
it repeats) while PyYAML composes the nodes, before any Python value is built; entries before validation.

Each limit is a setting of the same name with a `manifest_` prefix (reconciler.config), which the CLI
passes down as a ManifestLimits; the message of a limit names the setting and how to raise it. This
module cannot import the settings (they sit above it), so tests check that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from reconciler.diagnostics import Diagnostic, InputError, Location

# Python's recursion limit bounds how deep PyYAML's composer and nbjobs' converter can go (three frames a
# level, under the CLI's own frames): the setting may not go above this.
MAX_DEPTH_CEILING = 256


@dataclass(frozen=True)
class ManifestLimits:
    """The limits on what `load_manifests` reads. Field `x` is the setting `manifest_x`."""

    max_file_bytes: int = 1_048_576  # 1 MiB
    max_total_bytes: int = 16_777_216  # 16 MiB
    max_files: int = 1_000
    max_scalar_length: int = 65_536  # characters of one scalar (a value or a key)
    max_depth: int = 64  # levels of nested lists and mappings; a manifest uses 5
    # Scalars, lists and mappings of all the files together, an alias counted as the values it repeats: stops
    # a billion-laughs document, and bounds memory (about 1 KiB a value). 20,000 real entries hold ~180,000.
    max_values: int = 250_000
    max_entries: int = 20_000  # queues, jobs and retire entries of all the files together

    def __post_init__(self) -> None:
        for item in fields(self):
            if getattr(self, item.name) < 1:
                raise ValueError(f"manifest_{item.name} must be at least 1")
        if self.max_depth > MAX_DEPTH_CEILING:
            raise ValueError(f"manifest_max_depth must be at most {MAX_DEPTH_CEILING}")

    def exceeded(self, name: str, location: Location, what: str, unit: str) -> ManifestLimitError:
        """The error for input over limit `name` (a field of this class): `what` says what was found."""
        limit = getattr(self, name)
        setting = f"manifest_{name}"
        message = (
            f"{what}, over the limit of {limit:,} {unit} ({setting}; raise it with NBJOBS_{setting.upper()} "
            "or in nbjobs.toml)"
        )
        return ManifestLimitError([Diagnostic(location, message)])


class ManifestLimitError(InputError):
    """The manifests are over one of the limits: reading stopped there, with that one error."""


def start_of(file: str) -> Location:
    """Where a problem with a whole file is reported: its first line and column."""
    return Location(file, 1, 1)
