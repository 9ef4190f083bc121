"""The built-in offline model (see ``model``) and how it can be fooled (``injection``)."""

from finbot.llm.offline.injection import Gullibility
from finbot.llm.offline.model import OfflineModel

__all__ = ["Gullibility", "OfflineModel"]
