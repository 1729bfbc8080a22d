"""Fills the deployed console: uploads infra/console/dist (built from the lock) into the
stack's ConsoleBucket under console/, with the config.json the stack's ConsoleConfig
output gives (OIDC client and endpoints), then invalidates /console/* in CloudFront.

Run by `cargo xtask console-publish --stack NAME` with the project's .venv Python (boto3
comes with the SAM CLI pinned by infra/requirements.lock); AWS credentials as for
`sam deploy`.
"""

import argparse
import json
import mimetypes
import pathlib
import sys
import time

import boto3


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", required=True)
    ap.add_argument("--dist", required=True)
    ap.add_argument("--region")
    a = ap.parse_args()
    session = boto3.session.Session(region_name=a.region)
    stacks = session.client("cloudformation").describe_stacks(StackName=a.stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [k for k in ("ConsoleBucketName", "ConsoleDistributionId", "ConsoleConfig", "ConsoleUrl") if k not in outputs]
    if missing:
        print(f"stack {a.stack} has no output {', '.join(missing)}: deploy this template first", file=sys.stderr)
        return 1
    config = json.loads(outputs["ConsoleConfig"])
    for key in ("clientId", "authorizationEndpoint", "tokenEndpoint"):
        if not config.get(key):
            print(f"the console's {key} is empty: deploy with ConsoleClientId, OidcAuthorizationEndpoint and OidcTokenEndpoint", file=sys.stderr)
            return 1
    s3 = session.client("s3")
    bucket = outputs["ConsoleBucketName"]
    dist = pathlib.Path(a.dist)
    if not (dist / "index.html").is_file():
        print(f"{dist}/index.html is missing: build the console first", file=sys.stderr)
        return 1

    def put(key: str, body: bytes, kind: str, cache: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind, CacheControl=cache)

    # Assets first (hashed names, immutable), then the pages that name them.
    files = sorted((p for p in dist.rglob("*") if p.is_file()), key=lambda p: p.name == "index.html")
    for p in files:
        rel = p.relative_to(dist).as_posix()
        kind = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/javascript":
            kind += "; charset=utf-8"
        cache = "public, max-age=31536000, immutable" if rel.startswith("assets/") else "no-cache"
        put(f"console/{rel}", p.read_bytes(), kind, cache)
    index = (dist / "index.html").read_bytes()
    put("console/", index, "text/html; charset=utf-8", "no-cache")  # https://host/console/
    put("console/config.json", json.dumps(config).encode(), "application/json", "no-cache")
    session.client("cloudfront").create_invalidation(
        DistributionId=outputs["ConsoleDistributionId"],
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/console/*"]}, "CallerReference": str(time.time())},
    )
    print(f"console published: {outputs['ConsoleUrl']} ({len(files)} files; CloudFront invalidation started)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
