"""searchsvc: full-text search for Chinese news articles (jieba + Whoosh + Flask)."""

__version__ = "0.1.0"
