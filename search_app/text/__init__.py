"""Searching by words: in the text read on pictures and their labels (text_app's
full-text index), or through a CLIP text tower (a TextSource into search_run)."""
