#!/usr/bin/env python3
"""Independent, real clients against the lab: boto3, the AWS CLI, git with the AWS CLI's credential helper, and
OpenSSH. Prints a JSON list of checks ({"name", "ok", "detail"}); the Swift test asserts every one.

usage: lab_clients.py LAB_JSON WORKDIR [MOTO_ENDPOINT]
"""
import datetime
import hashlib
import hmac
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

info = json.load(open(sys.argv[1]))
work = sys.argv[2]
moto = sys.argv[3] if len(sys.argv) > 3 else None
checks = []


def check(name, ok, detail=""):
    checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:500]})


def refusal(fn):
    """The AWS error code and message `fn` ends with, or (None, "")."""
    try:
        fn()
        return None, ""
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"].get("Message", "")


def error_code(fn):
    return refusal(fn)[0]


def post_to_lab(body, headers):
    """POSTs `body` to the lab's AWS endpoint as sent; answers the status and the body of an error."""
    request = urllib.request.Request(info["endpoint"] + "/", data=body, method="POST", headers=headers)
    try:
        urllib.request.urlopen(request, context=ssl.create_default_context(cafile=info["caBundle"]), timeout=30)
        return 200, ""
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


base = dict(endpoint_url=info["endpoint"], verify=info["caBundle"], config=Config(retries={"max_attempts": 1}))
operator = boto3.Session(aws_access_key_id=info["accessKeyId"], aws_secret_access_key=info["secretAccessKey"], region_name="eu-west-1")
sts = operator.client("sts", **base)
me = sts.get_caller_identity()
check("boto3 sts get-caller-identity", me["Arn"] == "arn:aws:iam::000000000000:user/operator", me["Arn"])
creds = sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/fleetstrap", RoleSessionName="boto3")["Credentials"]
prod = boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                     aws_session_token=creds["SessionToken"], region_name="eu-west-1")
check("boto3 sts assume-role", prod.client("sts", **base).get_caller_identity()["Account"] == "111111111111")
wrong = boto3.Session(aws_access_key_id=info["accessKeyId"], aws_secret_access_key="wrong", region_name="eu-west-1")
check("boto3 wrong secret refused", error_code(lambda: wrong.client("sts", **base).get_caller_identity()) == "SignatureDoesNotMatch")

# IAM is global: at an endpoint given by hand botocore signs for the client's region, and AWS wants us-east-1.
iam = prod.client("iam", region_name="us-east-1", **base)
check("IAM refuses a signature scoped to eu-west-1",
      error_code(lambda: prod.client("iam", **base).list_ssh_public_keys(UserName="flux-prod")) == "SignatureDoesNotMatch")
nowhere = boto3.Session(aws_access_key_id=info["accessKeyId"], aws_secret_access_key=info["secretAccessKey"],
                        region_name="xx-nowhere-9")
check("STS refuses a signature scoped to a region that does not exist",
      error_code(lambda: nowhere.client("sts", **base).get_caller_identity()) == "SignatureDoesNotMatch")


def signed_without_host():
    """GetCallerIdentity signed by hand with x-amz-date as the only signed header (botocore always signs host)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    canonical = "\n".join(["POST", "/", "", "x-amz-date:" + amz, "", "x-amz-date",
                           hashlib.sha256(body.encode()).hexdigest()])
    scope = f"{day}/eu-west-1/sts/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + info["secretAccessKey"]).encode()
    for part in (day, "eu-west-1", "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = (f"AWS4-HMAC-SHA256 Credential={info['accessKeyId']}/{scope}, SignedHeaders=x-amz-date, "
            f"Signature={signature}")
    return post_to_lab(body.encode(), {"X-Amz-Date": amz, "Authorization": auth,
                                       "Content-Type": "application/x-www-form-urlencoded"})


status, answer = signed_without_host()
check("a signature that does not sign host is refused", status == 400 and "IncompleteSignature" in answer, answer)

# IAM checks its input by its service model (botocore's own checks turned off, so the lab is what refuses).
raw_iam = prod.client("iam", region_name="us-east-1", endpoint_url=info["endpoint"], verify=info["caBundle"],
                      config=Config(retries={"max_attempts": 1}, parameter_validation=False))


code, message = refusal(lambda: raw_iam.get_ssh_public_key(UserName="flux-prod", SSHPublicKeyId="APKA" + "A" * 16))
check("IAM GetSSHPublicKey without Encoding is a ValidationError",
      code == "ValidationError" and "'encoding' failed to satisfy constraint: Member must not be null" in message, message)
code, message = refusal(lambda: raw_iam.get_ssh_public_key(UserName="flux-prod", SSHPublicKeyId="x", Encoding="SSH"))
check("IAM refuses a key id shorter than the model allows",
      code == "ValidationError" and "Member must have length greater than or equal to 20" in message, message)
code, message = refusal(lambda: raw_iam.update_ssh_public_key(UserName="flux-prod", SSHPublicKeyId="APKA" + "A" * 16,
                                                                   Status="Paused"))
check("IAM refuses a status outside its enum", code == "ValidationError" and "enum value set" in message, message)
code, message = refusal(lambda: raw_iam.create_service_specific_credential(UserName="flux-prod",
                                                                                ServiceName="s3.amazonaws.com"))
check("IAM names an unsupported service as its model does", code == "NotSupportedService", f"{code} {message}")


def unknown_action():
    """An IAM request signed by botocore for an action IAM does not have (boto3 cannot call one)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    request = AWSRequest(method="POST", url=info["endpoint"] + "/", data="Action=FrobnicateKeys&Version=2010-05-08",
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(prod.get_credentials(), "iam", "us-east-1").add_auth(request)
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    return post_to_lab(body, dict(request.headers))


status, answer = unknown_action()
check("IAM answers an unknown action InvalidAction", status == 400 and "<Code>InvalidAction</Code>" in answer, answer)


def keygen(name, kind="rsa", bits="2048"):
    path = os.path.join(work, name)
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", path, "-C", name]
    if kind == "rsa":
        args += ["-b", bits, "-m", "PEM"]
    subprocess.run(args, check=True)
    return path, open(path + ".pub").read().strip()


_, ed = keygen("ed", "ed25519")
check("boto3 iam refuses ed25519", error_code(lambda: iam.upload_ssh_public_key(UserName="flux-prod", SSHPublicKeyBody=ed)) in ("InvalidPublicKey", "UnrecognizedPublicKeyEncoding"))
keys = []
for i in range(5):
    path, line = keygen(f"rsa{i}")
    keys.append((path, iam.upload_ssh_public_key(UserName="flux-prod", SSHPublicKeyBody=line)["SSHPublicKey"]))
_, sixth = keygen("rsa5")
check("boto3 iam five-key limit", error_code(lambda: iam.upload_ssh_public_key(UserName="flux-prod", SSHPublicKeyBody=sixth)) == "LimitExceeded")
listed = [k["SSHPublicKeyId"] for page in iam.get_paginator("list_ssh_public_keys").paginate(UserName="flux-prod", PaginationConfig={"PageSize": 2}) for k in page["SSHPublicKeys"]]
check("boto3 iam pagination", listed == [k["SSHPublicKeyId"] for _, k in keys], listed)
cluster = prod.client("eks", **base).describe_cluster(name="prod-a")["cluster"]
check("boto3 eks describe-cluster", cluster["status"] == "ACTIVE" and cluster["certificateAuthority"]["data"], cluster["arn"])
check("eks describe-cluster has the model's shape",
      isinstance(cluster.get("createdAt"), datetime.datetime) and cluster["roleArn"].startswith("arn:aws:iam::111111111111:role/")
      and cluster["resourcesVpcConfig"]["vpcId"].startswith("vpc-") and cluster["accessConfig"]["authenticationMode"]
      and cluster["kubernetesNetworkConfig"]["serviceIpv4Cidr"], cluster)
repo = prod.client("codecommit", **base).get_repository(repositoryName="fleet-prod")["repositoryMetadata"]
check("boto3 codecommit get-repository", repo["cloneUrlHttp"] == info["endpoint"] + "/v1/repos/fleet-prod", repo)
check("codecommit get-repository has the model's shape, a repository id of its own",
      isinstance(repo.get("creationDate"), datetime.datetime) and repo["repositoryId"] != "00000000-0000-0000-0000-000000000000"
      and len(repo["repositoryId"]) == 36, repo)

env = dict(os.environ, AWS_ENDPOINT_URL=info["endpoint"], AWS_CA_BUNDLE=info["caBundle"], AWS_DEFAULT_REGION="eu-west-1",
           AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"],
           AWS_SESSION_TOKEN=creds["SessionToken"], AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
           GIT_SSL_CAINFO=info["caBundle"], GIT_TERMINAL_PROMPT="0", HOME=work,
           GIT_AUTHOR_NAME="lab", GIT_AUTHOR_EMAIL="lab@example.com", GIT_COMMITTER_NAME="lab", GIT_COMMITTER_EMAIL="lab@example.com")
cli = subprocess.run(["aws", "sts", "get-caller-identity", "--query", "Arn", "--output", "text"], env=env, capture_output=True, text=True)
check("awscli sts get-caller-identity", cli.stdout.strip() == "arn:aws:sts::111111111111:assumed-role/fleetstrap/boto3", cli.stdout + cli.stderr)


def git(*args, cwd=work, extra=None):
    return subprocess.run(["git", *args], cwd=cwd, env=dict(env, **(extra or {})), capture_output=True, text=True, timeout=60)


helper = ["-c", "credential.helper=", "-c", "credential.helper=!f() { aws codecommit credential-helper \"$@\" --ignore-host-check; }; f",
          "-c", "credential.UseHttpPath=true"]
url = info["endpoint"] + "/v1/repos/fleet-prod"
r = git(*helper, "clone", "-q", url, "https-clone")
check("git clone over HTTPS with the AWS CLI's credential helper", r.returncode == 0, r.stderr)
repo_dir = os.path.join(work, "https-clone")
git("checkout", "-q", "-b", "main", cwd=repo_dir)
open(os.path.join(repo_dir, "README.md"), "w").write("from https\n")
git("add", "README.md", cwd=repo_dir)
git("commit", "-q", "-m", "over https", cwd=repo_dir)
r = git(*helper, "push", "-q", "origin", "main", cwd=repo_dir)
check("git push over HTTPS", r.returncode == 0, r.stderr)
# A push larger than git's http.postBuffer (1 MiB) goes out with a chunked request body, as libgit2's always do.
open(os.path.join(repo_dir, "big.bin"), "wb").write(os.urandom(3 << 20))
git("add", "big.bin", cwd=repo_dir)
git("commit", "-q", "-m", "a chunked push", cwd=repo_dir)
r = git(*helper, "push", "-q", "origin", "main", cwd=repo_dir, extra={"GIT_TRACE_CURL_NO_DATA": "1"})
check("git push over HTTPS with a chunked body", r.returncode == 0, r.stderr)
bad = ["-c", "credential.helper=", "-c", f"credential.helper=!f() {{ echo username={creds['AccessKeyId']}; echo password=20240102T030405Z{'0' * 64}; }}; f"]
r = git(*bad, "ls-remote", url)
check("git over HTTPS refuses a wrong password", r.returncode != 0 and "403" in r.stderr, r.stderr)

if info.get("sshPort"):
    port = info["sshPort"]
    known = os.path.join(work, "known_hosts")
    open(known, "w").write(info["sshKnownHosts"] + "\n")
    path, key = keys[0]
    key_id = key["SSHPublicKeyId"]
    ssh = f"ssh -i {path} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"
    ssh_url = f"ssh://{key_id}@127.0.0.1:{port}/v1/repos/fleet-prod"
    r = git("clone", "-q", ssh_url, "ssh-clone", extra={"GIT_SSH_COMMAND": ssh})
    check("git clone over SSH with OpenSSH, the key id as user", r.returncode == 0 and os.path.exists(os.path.join(work, "ssh-clone", "README.md")), r.stderr)
    ssh_dir = os.path.join(work, "ssh-clone")
    open(os.path.join(ssh_dir, "SSH.md"), "w").write("from ssh\n")
    git("add", "SSH.md", cwd=ssh_dir)
    git("commit", "-q", "-m", "over ssh", cwd=ssh_dir)
    r = git("push", "-q", "origin", "main", cwd=ssh_dir, extra={"GIT_SSH_COMMAND": ssh})
    check("git push over SSH", r.returncode == 0, r.stderr)
    other_path, _ = keys[1]
    wrong_key = f"ssh -i {other_path} -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile={known}"
    r = git("ls-remote", ssh_url, extra={"GIT_SSH_COMMAND": wrong_key})
    check("SSH refuses another user's key for a key id", r.returncode != 0, r.stderr)
    r = git("ls-remote", f"ssh://flux-prod@127.0.0.1:{port}/v1/repos/fleet-prod", extra={"GIT_SSH_COMMAND": ssh})
    check("SSH refuses the IAM user name as login", r.returncode != 0, r.stderr)
    iam.update_ssh_public_key(UserName="flux-prod", SSHPublicKeyId=key_id, Status="Inactive")
    r = git("ls-remote", ssh_url, extra={"GIT_SSH_COMMAND": ssh})
    check("SSH refuses an Inactive key at once", r.returncode != 0, r.stderr)
    iam.update_ssh_public_key(UserName="flux-prod", SSHPublicKeyId=key_id, Status="Active")
    r = git("ls-remote", ssh_url, extra={"GIT_SSH_COMMAND": ssh})
    check("SSH accepts the key again once Active", r.returncode == 0, r.stderr)
    iam.delete_ssh_public_key(UserName="flux-prod", SSHPublicKeyId=key_id)
    r = git("ls-remote", ssh_url, extra={"GIT_SSH_COMMAND": ssh})
    check("SSH refuses a deleted key", r.returncode != 0, r.stderr)
    shell = subprocess.run(["ssh", "-i", keys[2][0], "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={known}",
                            "-p", str(port), f"{keys[2][1]['SSHPublicKeyId']}@127.0.0.1", "cat /etc/passwd"], capture_output=True, text=True, timeout=30)
    check("SSH serves git commands only", shell.returncode == 128 and "root:" not in shell.stdout, shell.stderr)

if moto:
    # The same requests against moto give the same shapes (the keys botocore parses out).
    msess = boto3.Session(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="x", region_name="eu-west-1")
    mkw = dict(endpoint_url=moto)
    m_sts = msess.client("sts", **mkw)
    m_iam = msess.client("iam", **mkw)
    m_iam.create_user(UserName="flux-prod")

    def shape(d):
        return sorted(k for k in d if k != "ResponseMetadata")

    pairs = [
        ("GetCallerIdentity", shape(me), shape(m_sts.get_caller_identity())),
        ("AssumeRole", shape(sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/fleetstrap", RoleSessionName="s2")),
         shape(m_sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/fleetstrap", RoleSessionName="s2"))),
    ]
    _, line = keygen("moto-key")
    moto_key = m_iam.upload_ssh_public_key(UserName="flux-prod", SSHPublicKeyBody=line)["SSHPublicKey"]
    pairs.append(("UploadSSHPublicKey", shape(keys[1][1]), shape(moto_key)))
    pairs.append(("ListSSHPublicKeys", shape(iam.list_ssh_public_keys(UserName="flux-prod")),
                  shape(m_iam.list_ssh_public_keys(UserName="flux-prod"))))
    for name, lab_shape, moto_shape in pairs:
        if name == "ListSSHPublicKeys":
            # IAM always answers IsTruncated; moto leaves it out. Everything moto has, the lab has.
            check(f"same shape as moto: {name}", set(moto_shape) <= set(lab_shape) and "IsTruncated" in lab_shape, f"lab {lab_shape} moto {moto_shape}")
        else:
            check(f"same shape as moto: {name}", lab_shape == moto_shape, f"lab {lab_shape} moto {moto_shape}")

json.dump(checks, sys.stdout)
