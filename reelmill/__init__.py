"""reelmill's kernel: the contract (generated `v1`), the catalogue of editing names, voices, SSML, URL
rules, topology and logging — what gateway and worker share. It imports nothing of theirs, nor the
front door (`cli`)."""
