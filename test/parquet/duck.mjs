// duck.mjs: DuckDB, an independent Parquet implementation, for the tests
// (test/scripts/parquet.sh, test/bench/parquet.sh).
//   node duck.mjs sql 'SQL; ...'        runs statements, e.g. COPY (...) TO
//                                        'f.parquet' (FORMAT parquet, COMPRESSION
//                                        zstd, ROW_GROUP_SIZE 1000, ...)
//   node duck.mjs csv 'SELECT ...' F    writes the query's rows to file F as CSV
//                                        (no header; NULL is an unquoted empty field)
//   node duck.mjs time 'SELECT ...'     runs the query, prints its milliseconds
import { DuckDBInstance } from '@duckdb/node-api';

const [mode, sql, file] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: '1' });
const con = await db.connect();
if (mode === 'sql') {
	await con.run(sql);
} else if (mode === 'csv' && file) {
	await con.run(`COPY (${sql}) TO '${file.replace(/'/g, "''")}' (FORMAT csv, HEADER false)`);
} else if (mode === 'time') {
	const t0 = process.hrtime.bigint();
	await con.runAndReadAll(sql);
	console.log(Number(process.hrtime.bigint() - t0) / 1e6);
} else {
	console.error('usage: node duck.mjs sql SQL | csv SQL FILE | time SQL');
	process.exit(2);
}
