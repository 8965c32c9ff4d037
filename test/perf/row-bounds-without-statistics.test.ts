/**
 * The row-bound test (row-bounds.test.ts) with no table statistics (issue 20): after the
 * bulk load, autovacuum off for every table, the column statistics deleted and the row
 * counts in pg_class reset, as for tables never analyzed. The hot queries must keep their
 * plan on the query's shape and the indexes' order alone; those that cannot are listed
 * there (WITHOUT_STATISTICS) and rely on statistics being kept.
 */
process.env.CUSTODIAN_ROW_BOUNDS_STATISTICS = 'absent'
await import('./row-bounds.test.ts')
