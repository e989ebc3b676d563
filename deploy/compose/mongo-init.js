// Creates the orders database's application user, which svc-order logs in as
// (readWrite on that database only; not the root user). The mongo image runs
// this once, on the first start with an empty data volume
// (/docker-entrypoint-initdb.d, with mongosh, authenticated as the root user).
//
// Environment (set in compose.yaml): COMANDA_MONGO_DB, COMANDA_MONGO_USER,
// COMANDA_MONGO_PASSWORD. svc-order needs no more than readWrite: it runs
// finds, single-document writes, createIndexes and ping.
const dbName = process.env.COMANDA_MONGO_DB;
const user = process.env.COMANDA_MONGO_USER;
const pwd = process.env.COMANDA_MONGO_PASSWORD;
if (!dbName || !user || !pwd) {
  throw new Error('COMANDA_MONGO_DB, COMANDA_MONGO_USER and COMANDA_MONGO_PASSWORD are required');
}
db.getSiblingDB(dbName).createUser({
  user: user,
  pwd: pwd,
  roles: [{ role: 'readWrite', db: dbName }],
});
print(`comanda: created user ${user} with readWrite on ${dbName}`);
