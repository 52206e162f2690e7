"""Safe conversion to safetensors (one file or Hugging Face shards) or a weights-only .pth.

Read with our own readers (nothing from the source runs), planned from metadata
(:mod:`~inspector.core.convert.plan`), streamed tensor by tensor in bounded blocks
(:mod:`~inspector.core.convert.reading`), written to temporary files that are verified
(:mod:`~inspector.core.convert.verify`) and renamed into place (:mod:`~inspector.core.convert.run`).
"""

from inspector.core.convert.plan import (
    AUTO_PREFIX,
    KINDS,
    PTH,
    SAFETENSORS,
    SHARDED,
    ConversionPlan,
    ConvertError,
    ConvertOptions,
    PlannedTensor,
    plan_conversion,
)
from inspector.core.convert.reading import CAST_TARGETS
from inspector.core.convert.report_text import report_lines
from inspector.core.convert.run import (
    JOB_TARGET,
    ConvertCancelled,
    ConvertReport,
    convert,
    convert_job,
    iter_convert,
    output_kind,
)
from inspector.core.convert.safetensors_out import parse_size
from inspector.core.convert.verify import VerifyItem, VerifyReport, VerifyResult, verify_outputs

__all__ = [
    "AUTO_PREFIX", "CAST_TARGETS", "JOB_TARGET", "KINDS", "PTH", "SAFETENSORS", "SHARDED",
    "ConversionPlan", "ConvertCancelled", "ConvertError", "ConvertOptions", "ConvertReport",
    "PlannedTensor", "VerifyItem", "VerifyReport", "VerifyResult", "convert", "convert_job",
    "iter_convert", "output_kind", "parse_size", "plan_conversion", "report_lines",
    "verify_outputs",
]
