"""Index builds the migrations share."""


def is_postgresql(database):
    return "Postgres" in database.__class__.__name__


def build_index(database, index, name):
    """Create ``index`` (a peewee Index named ``name``, ``safe``): on PostgreSQL CONCURRENTLY, so
    writes to the table go on meanwhile, first dropping an invalid one that an interrupted build
    left (CONCURRENTLY cannot run in a transaction: the migration says ``TRANSACTIONAL = False``);
    on SQLite in a transaction."""
    if not is_postgresql(database):
        with database.atomic():
            database.execute(index)
        return
    valid = database.execute_sql(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace", (name,)).fetchone()
    if valid is not None and not valid[0]:  # left invalid by an interrupted build
        database.execute_sql(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
    sql, params = database.get_sql_context().sql(index).query()
    database.execute_sql(sql.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY", 1), params)
