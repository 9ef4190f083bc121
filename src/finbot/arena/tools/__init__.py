"""The arena's simulated finance tools: a file drive, mail with an external dead drop, a
payment rail, a tax calculator and system utilities, one small world per sandbox.

Nothing here touches the host or the real ledger: ``catalogue`` says what each tool is
called, what it takes and how it is described; ``world`` holds the seed documents, the
values a sandbox's world is made of and the pure rules (paths, mail domains, tax, the
simulated command table). ``finbot.services.arena_tools`` runs a call against a sandbox's
stored world and logs it.
"""
