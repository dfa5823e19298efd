"""Static files storage for production: whitenoise's compressed, content-hashed files.

Vendored minified libraries (static/vendor/) end in ``//# sourceMappingURL=...`` for a map we
do not ship; Django's manifest storage would rewrite that reference and fail collectstatic on
the missing file. Source maps are for developers' tools, never needed by a page: those
references are left as they are.
"""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    patterns = tuple(
        (extension, tuple(pattern for pattern in rules if "sourceMappingURL" not in str(pattern)))
        for extension, rules in CompressedManifestStaticFilesStorage.patterns
    )
