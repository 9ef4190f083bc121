"""Detectors: plugins over the event stream that name attacks and leaks as hits.

Build new detectors from the primitives (``FieldPattern``, ``ToolCallMatcher``,
``PiiLeak``, ``InjectionClassifier``, ``ToolDrift``) or write any class with a ``name``
and an ``inspect(event)`` that yields ``Hit`` values; ``Pipeline.standard()`` is the
shipped set.
"""

from finbot.arena.detectors.conditions import Condition
from finbot.arena.detectors.core import Detector, Hit, Severity
from finbot.arena.detectors.drift import ToolDrift, baseline_of, description_sha256
from finbot.arena.detectors.injection import InjectionClassifier, Judge, assess
from finbot.arena.detectors.patterns import FieldPattern, ToolCallMatcher
from finbot.arena.detectors.pii import PiiLeak, find_identifiers
from finbot.arena.detectors.pipeline import Pipeline

__all__ = ["Condition", "Detector", "FieldPattern", "Hit", "InjectionClassifier", "Judge",
           "PiiLeak", "Pipeline", "Severity", "ToolCallMatcher", "ToolDrift", "assess",
           "baseline_of", "description_sha256", "find_identifiers"]
