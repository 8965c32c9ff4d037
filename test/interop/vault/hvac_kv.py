"""KV version 2 through Debian's python3-hvac, unmodified, against Custodian's Vault-compatible listener.

Run by test/interop/vault-kv.test.ts with VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT and KV_PATH set.
hvac is built with strict_http=True, its own option for servers that take LIST as GET ?list=true
(Node.js's HTTP parser refuses the LIST method). Every check is an assert here; what the Node test
cross-checks through the native API is printed as one JSON object on the last line.
"""

import json
import os
import sys

import hvac
import hvac.exceptions

path = os.environ["KV_PATH"]
client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"], verify=os.environ["VAULT_CACERT"], strict_http=True)
kv = client.secrets.kv.v2

# Write (version 1), then with a check-and-set (version 2), then a refused check-and-set.
first = kv.create_or_update_secret(path=path, secret={"user": "app", "password": "s3cr3t-one"}, cas=0)["data"]
assert first["version"] == 1 and first["destroyed"] is False and first["deletion_time"] == "", first
second = kv.create_or_update_secret(path=path, secret={"user": "app", "password": "s3cr3t-two", "port": 5432}, cas=1)["data"]
assert second["version"] == 2, second
try:
    kv.create_or_update_secret(path=path, secret={"password": "lost"}, cas=1)
    raise AssertionError("a stale check-and-set wrote")
except hvac.exceptions.InvalidRequest as error:
    assert "check-and-set parameter did not match the current version" in str(error), error

# Read: the latest, a given version.
latest = kv.read_secret_version(path=path)["data"]
assert latest["data"] == {"user": "app", "password": "s3cr3t-two", "port": 5432}, latest
assert latest["metadata"]["version"] == 2 and latest["metadata"]["destroyed"] is False, latest
assert kv.read_secret_version(path=path, version=1)["data"]["data"] == {"user": "app", "password": "s3cr3t-one"}

# Soft delete of the latest version: reads answer 404 (InvalidPath); undelete brings it back.
kv.delete_latest_version_of_secret(path=path)
try:
    kv.read_secret_version(path=path)
    raise AssertionError("read a deleted version")
except hvac.exceptions.InvalidPath:
    pass
meta = kv.read_secret_metadata(path=path)["data"]
assert meta["versions"]["2"]["deletion_time"] != "" and meta["current_version"] == 2, meta
kv.undelete_secret_versions(path=path, versions=[2])
assert kv.read_secret_version(path=path)["data"]["data"]["password"] == "s3cr3t-two"

# Delete then destroy version 1: destroyed for good, undelete cannot bring it back.
kv.delete_secret_versions(path=path, versions=[1])
kv.destroy_secret_versions(path=path, versions=[1])
kv.undelete_secret_versions(path=path, versions=[1])
try:
    kv.read_secret_version(path=path, version=1)
    raise AssertionError("read a destroyed version")
except hvac.exceptions.InvalidPath:
    pass
meta = kv.read_secret_metadata(path=path)["data"]
assert meta["versions"]["1"]["destroyed"] is True and meta["versions"]["2"]["destroyed"] is False, meta
assert meta["oldest_version"] == 2 and meta["max_versions"] == 0 and meta["cas_required"] is False, meta

# Metadata: cas_required (then a write without cas is refused) and custom_metadata through a raw write.
kv.update_metadata(path=path, cas_required=True)
try:
    kv.create_or_update_secret(path=path, secret={"password": "no-cas"})
    raise AssertionError("wrote without cas although cas_required")
except hvac.exceptions.InvalidRequest:
    pass
client.write(f"secret/metadata/{path}", custom_metadata={"owner": "payments"})
meta = kv.read_secret_metadata(path=path)["data"]
assert meta["cas_required"] is True and meta["custom_metadata"] == {"owner": "payments"}, meta
try:
    kv.update_metadata(path=path, max_versions=5)
    raise AssertionError("max_versions accepted")
except hvac.exceptions.InvalidRequest:
    pass
third = kv.create_or_update_secret(path=path, secret={"user": "app", "password": "s3cr3t-three"}, cas=2)["data"]
assert third["version"] == 3, third

# LIST: the folder holds the secret and a sub-folder.
folder, _, leaf = path.rpartition("/")
kv.create_or_update_secret(path=f"{folder}/nested/deeper", secret={"k": "v"})
keys = kv.list_secrets(path=folder)["data"]["keys"]
assert keys == sorted([leaf, "nested/"]), keys
# The mount's root: hvac sends it as GET /v1/secret/metadata?list=true, without a trailing slash.
root_keys = kv.list_secrets(path="")["data"]["keys"]
assert path.split("/")[0] + "/" in root_keys, root_keys
try:
    kv.list_secrets(path=f"{folder}/no-such-folder")
    raise AssertionError("listed an empty folder")
except hvac.exceptions.InvalidPath:
    pass

# Delete the metadata and every version of the nested secret: gone.
kv.delete_metadata_and_all_versions(path=f"{folder}/nested/deeper")
try:
    kv.read_secret_metadata(path=f"{folder}/nested/deeper")
    raise AssertionError("read deleted metadata")
except hvac.exceptions.InvalidPath:
    pass

print(json.dumps({"path": path, "current_version": 3}))
sys.exit(0)
