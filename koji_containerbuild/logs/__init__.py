"""logs/: a build's log followed (``follow``), split per platform (``demux``) and uploaded to
the hub as it grows (``upload``). May import ``threads``; no koji, no HTTP of its own.
"""
