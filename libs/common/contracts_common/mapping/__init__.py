"""Field mapping: Ironclad record properties to Contracts AI contract fields (pure, no I/O).

* :mod:`.targets`: :class:`TargetType`, :class:`TargetField`, :data:`BUILTIN_TARGET_FIELDS`,
  :func:`target_fields`.
* :mod:`.sources`: :class:`SourceField`, :func:`source_fields` (from ``/records/metadata``).
* :mod:`.transforms`: :data:`Transform` (discriminated on ``kind``).
* :mod:`.rules`: :class:`MappingRule`, :class:`Mapping`, :func:`validate_mapping`, :class:`RuleError`.
* :mod:`.apply`: :func:`compile_mapping`, :func:`apply_mapping`, :func:`preview_mapping`.
* :mod:`.suggest`: :func:`suggest_mapping`, :data:`DEFAULT_RULES_WITHOUT_METADATA`.
* :mod:`.reverse`: :func:`reverse_fields` (write-back PATCH).
* :mod:`.convert`: the converters and the representation of every target type (see its docstring).
"""

from .apply import (
    CompiledMapping,
    FieldError,
    InvalidMappingError,
    MappingResult,
    PreviewItem,
    apply_mapping,
    compile_mapping,
    preview_mapping,
)
from .convert import ConversionError
from .reverse import ReversePatch, SkippedField, reverse_fields, to_ironclad_value
from .rules import Mapping, MappingRule, RuleError, RuleErrorCode, validate_mapping
from .sources import ATTRIBUTE_SOURCES, SourceField, source_fields
from .suggest import DEFAULT_RULES_WITHOUT_METADATA, SuggestedRule, suggest_mapping
from .targets import (
    BUILTIN_TARGET_FIELDS,
    InvalidTargetFieldsError,
    TargetField,
    TargetType,
    target_fields,
)
from .transforms import (
    AddressTransform,
    AnyTransform,
    BooleanTransform,
    CaseTransform,
    DatetimeTransform,
    DateTransform,
    DurationTransform,
    EmailTransform,
    EnumMapTransform,
    IdentityTransform,
    JoinTransform,
    MoneyTransform,
    NotReversibleError,
    NumberTransform,
    SplitTransform,
    Transform,
    TrimTransform,
)

__all__ = [
    "ATTRIBUTE_SOURCES",
    "BUILTIN_TARGET_FIELDS",
    "DEFAULT_RULES_WITHOUT_METADATA",
    "AddressTransform",
    "AnyTransform",
    "BooleanTransform",
    "CaseTransform",
    "CompiledMapping",
    "ConversionError",
    "DateTransform",
    "DatetimeTransform",
    "DurationTransform",
    "EmailTransform",
    "EnumMapTransform",
    "FieldError",
    "IdentityTransform",
    "InvalidMappingError",
    "InvalidTargetFieldsError",
    "JoinTransform",
    "Mapping",
    "MappingResult",
    "MappingRule",
    "MoneyTransform",
    "NotReversibleError",
    "NumberTransform",
    "PreviewItem",
    "ReversePatch",
    "RuleError",
    "RuleErrorCode",
    "SkippedField",
    "SourceField",
    "SplitTransform",
    "SuggestedRule",
    "TargetField",
    "TargetType",
    "Transform",
    "TrimTransform",
    "apply_mapping",
    "compile_mapping",
    "preview_mapping",
    "reverse_fields",
    "source_fields",
    "suggest_mapping",
    "target_fields",
    "to_ironclad_value",
    "validate_mapping",
]
