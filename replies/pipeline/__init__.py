"""Recognition of inbound mail, in the manner of GNU Mailman's chains.

- context   the typed values the loop passes around: Context, Verdict, findings, RuleHit, Outcome
- rules     small named recognition rules; each check() answers with a Verdict
- handlers  what happens once a rule has recognised a mail; each returns an Outcome
- chain     the ordered table of (rule, kind, handler) and the decision loop that owns the record
"""
