#!/usr/bin/env python3
"""Signs requests with botocore, the reference SigV4 implementation, for the differential test.

Reads a JSON array of requests on stdin and writes, for each, botocore's canonical request, signature and (in query
mode) the presigned query string.
"""
import base64
import datetime
import json
import sys

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

requests = json.load(sys.stdin)
results = []
for r in requests:
    fixed = datetime.datetime.strptime(r["amzDate"], "%Y%m%dT%H%M%SZ")
    botocore.auth.get_current_datetime = lambda fixed=fixed: fixed
    credentials = Credentials(r["accessKeyId"], r["secretAccessKey"], r.get("sessionToken"))
    body = base64.b64decode(r["body"])
    request = AWSRequest(method=r["method"], url=r["url"], headers=None, data=body)
    for name, value in r["headers"]:
        request.headers.add_header(name, value)  # appends: repeated headers stay repeated
    if r["params"]:
        request.params = [tuple(p) for p in r["params"]] if r["mode"] == "header" else dict(r["params"])
    if r["mode"] == "header":
        signer = botocore.auth.SigV4Auth(credentials, r["service"], r["region"])
    else:
        signer = botocore.auth.SigV4QueryAuth(credentials, r["service"], r["region"], expires=r["expires"])
    recorded = []
    original = signer.canonical_request
    signer.canonical_request = lambda req, original=original: recorded.append(original(req)) or recorded[-1]
    signer.add_auth(request)
    canonical = recorded[0]
    if r["mode"] == "header":
        authorization = request.headers["Authorization"]
        signature = authorization.rsplit("Signature=", 1)[1]
        query = None
    else:
        query = request.url.split("?", 1)[1]
        signature = query.rsplit("X-Amz-Signature=", 1)[1]
    results.append({"signature": signature, "canonical": canonical, "query": query})
json.dump(results, sys.stdout)
