/**
 * The row-bound test (row-bounds.test.ts) with no table statistics: autovacuum off for
 * every table, statistics removed after the bulk load, no ANALYZE (issue 20). The hot
 * queries must keep their plan on the query's shape and the indexes' order alone.
 */
process.env.CUSTODIAN_ROW_BOUNDS_STATISTICS = 'absent'
await import('./row-bounds.test.ts')
