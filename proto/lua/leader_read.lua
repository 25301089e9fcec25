#!lua flags=no-writes
-- kwq leader lease, read (docs/PROTOCOL.md "Leader lease"): who holds it,
-- writing nothing, so that it also runs on a replica.
-- KEYS[1]: kwq:leader:{NAME}.
-- ARGV: none.
-- Reply: array of 5 as leader acquire's: 0; holder ("" when free or
--   expired); term (0 when never held); expires_ms (0 when free); server time ms.
--   The term is the last one written: after a server change it jumps at the
--   next acquire, not here.
-- Errors: KWQ_INVAL (a key that is not a leader lease's).
-- kwq:include leader

if not leader_key_ok() then return leader_key_error() end
return leader_reply(false, leader_state())
