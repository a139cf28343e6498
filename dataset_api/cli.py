"""The ``dataset-api`` command: serve, migrate, token, recount, seed."""

import argparse
import logging
import os
import sys

from dataset_api.config import Config


def serve(args, config):
    """Run gunicorn with uvicorn workers; migrations run once, before the workers fork."""
    from gunicorn.app.base import BaseApplication

    from dataset_api import migrations
    from dataset_api.auth import tokens
    from dataset_api.db import bind

    database = bind(config.db_url)
    migrations.migrate(database)
    database.close_all()
    if not config.jwt_public_key and not config.jwt_secret:
        tokens.data_dir_secret(config.data_dir)  # created once, before workers race for it

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("worker_class", "uvicorn_worker.UvicornWorker")
            self.cfg.set("accesslog", None)
            self.cfg.set("timeout", 60)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 27: no shared socket
                self.cfg.set("control_socket_disable", True)

        def load(self):
            from dataset_api.app import create_app

            return create_app(config)

    Server().run()


def migrate(args, config):
    from dataset_api import migrations
    from dataset_api.db import bind

    applied = migrations.migrate(bind(config.db_url))
    print(f"applied {len(applied)} migration(s): {applied}" if applied else "schema is up to date")


def token(args, config):
    from dataset_api.auth import tokens

    if config.jwt_public_key:
        sys.exit("a public key is configured: tokens come from your identity provider")
    secret = config.jwt_secret or tokens.data_dir_secret(config.data_dir)
    print(tokens.issue(secret, account_id=args.account_id, email=args.email, role=args.role,
                       name=args.name, orgs=args.org, ttl=args.ttl))


def recount(args, config):
    from dataset_api import migrations
    from dataset_api.db import bind
    from dataset_api.workflow import counters

    database = bind(config.db_url)
    migrations.migrate(database)
    with database.connection_context(), database.atomic():
        n = counters.recount(args.dataset_id)
    print(f"recounted {n} dataset(s)")


def seed(args, config):
    from dataset_api import migrations
    from dataset_api import seed as demo
    from dataset_api.db import bind

    database = bind(config.db_url)
    migrations.migrate(database)
    with database.connection_context(), database.atomic():
        print(demo.create(entries=args.entries))


def parser():
    p = argparse.ArgumentParser(prog="dataset-api", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the HTTP server (gunicorn + uvicorn workers)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=int(os.environ.get("DATASET_API_PORT", 8000)))
    s.add_argument("--workers", type=int, default=int(os.environ.get("DATASET_API_WORKERS", 2)))
    s.set_defaults(func=serve)
    sub.add_parser("migrate", help="apply pending schema migrations").set_defaults(func=migrate)
    t = sub.add_parser("token", help="print a signed token for the data folder's secret")
    t.add_argument("--account-id", type=int, required=True)
    t.add_argument("--email", required=True)
    t.add_argument("--role", choices=("admin", "org_owner", "user"), default="user")
    t.add_argument("--name")
    t.add_argument("--org", type=int, action="append", default=[], help="organization id (repeat)")
    t.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    t.set_defaults(func=token)
    r = sub.add_parser("recount", help="rebuild dataset counters from their entries")
    r.add_argument("--dataset-id")
    r.set_defaults(func=recount)
    d = sub.add_parser("seed", help="create a demo project, dataset and entries")
    d.add_argument("--entries", type=int, default=20)
    d.set_defaults(func=seed)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    logging.basicConfig(level=os.environ.get("DATASET_API_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args.func(args, Config.from_env())


if __name__ == "__main__":
    main()
