"""The event store: the only service that touches Postgres.

It copies every event of the EVENTS stream into Postgres exactly once, keeps one row per execution
folded from those events, mirrors the workflow catalog, and answers ``jamjet.store.*`` queries.
"""
