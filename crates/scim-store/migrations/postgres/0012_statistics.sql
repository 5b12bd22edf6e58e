-- No statistics for the stored documents. No statement filters, joins or sorts on these
-- columns (filters go through attr_index; documents are read whole, by key), so the
-- planner never uses their statistics, and computing them took about a quarter to a third
-- of an ANALYZE of resources and of changes (measured on a 30,000-user database).
-- ANALYZE runs often on a growing database (autovacuum's, or the store's own where
-- autovacuum is off: postgres/analyze.rs).
ALTER TABLE resources ALTER COLUMN data SET STATISTICS 0;
ALTER TABLE changes
    ALTER COLUMN changed SET STATISTICS 0,
    ALTER COLUMN before SET STATISTICS 0,
    ALTER COLUMN after SET STATISTICS 0,
    ALTER COLUMN members_added SET STATISTICS 0,
    ALTER COLUMN members_removed SET STATISTICS 0,
    ALTER COLUMN detail SET STATISTICS 0;
ALTER TABLE audit_states ALTER COLUMN data SET STATISTICS 0;
