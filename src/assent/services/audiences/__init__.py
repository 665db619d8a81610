"""Audiences: who among lists (or every profile) may get a send and why not the rest
(`resolution`), and their exports to files (`exports`)."""
