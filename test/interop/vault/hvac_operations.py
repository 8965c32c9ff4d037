"""Vault operations through Debian's python3-hvac, unmodified, against Custodian's Vault-compatible listener.

Run by test/interop/vault-api.test.ts with VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, WRONG_TOKEN and
KEY_NAME set. Every check is an assert here; what the Node test cross-checks (ciphertexts, the
associated data) is printed as one JSON object on the last line.
"""

import base64
import json
import os
import sys

import hvac
import hvac.exceptions


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


address = os.environ["VAULT_ADDR"]
ca = os.environ["VAULT_CACERT"]
name = os.environ["KEY_NAME"]
client = hvac.Client(url=address, token=os.environ["VAULT_TOKEN"], verify=ca)

# sys/health (hvac's HEAD by default, and GET for the body) and sys/seal-status: unauthenticated.
assert client.sys.read_health_status(method="HEAD").status_code == 200
health = client.sys.read_health_status(method="GET")
assert health["initialized"] is True and health["sealed"] is False and health["standby"] is False, health
seal = client.sys.read_seal_status()
assert seal["sealed"] is False and seal["initialized"] is True, seal
assert client.sys.is_sealed() is False

# auth/token/lookup-self
assert client.is_authenticated() is True
me = client.lookup_token()["data"]
assert me["policies"] == ["admin"], me

# Transit: create, read, encrypt/decrypt with associated_data, rotate, rewrap.
client.secrets.transit.create_key(name=name)
key = client.secrets.transit.read_key(name=name)["data"]
assert key["type"] == "aes256-gcm96" and key["latest_version"] == 1 and key["derived"] is False, key
assert key["exportable"] is False and list(key["keys"].keys()) == ["1"], key

plaintext = b"card 4111 1111 1111 1111"
ad = b64(b"tenant=42")
# hvac 0.11's encrypt_data has no associated_data parameter: its generic write sends the same request.
sealed = client.write(f"transit/encrypt/{name}", plaintext=b64(plaintext), associated_data=ad)["data"]
assert sealed["ciphertext"].startswith("vault:v1:") and sealed["key_version"] == 1, sealed
opened = client.write(f"transit/decrypt/{name}", ciphertext=sealed["ciphertext"], associated_data=ad)["data"]
assert base64.b64decode(opened["plaintext"]) == plaintext

for other in (b64(b"tenant=43"), ""):
    try:
        client.write(f"transit/decrypt/{name}", ciphertext=sealed["ciphertext"], associated_data=other)
        raise AssertionError("decrypted with other associated_data")
    except hvac.exceptions.InvalidRequest:
        pass

# Without associated_data, hvac's own transit methods.
plain = client.secrets.transit.encrypt_data(name=name, plaintext=b64(b"no ad"))["data"]["ciphertext"]
assert base64.b64decode(client.secrets.transit.decrypt_data(name=name, ciphertext=plain)["data"]["plaintext"]) == b"no ad"

client.secrets.transit.rotate_key(name=name)
assert client.secrets.transit.read_key(name=name)["data"]["latest_version"] == 2
rewrapped = client.write(f"transit/rewrap/{name}", ciphertext=sealed["ciphertext"], associated_data=ad)["data"]
assert rewrapped["ciphertext"].startswith("vault:v2:") and rewrapped["key_version"] == 2, rewrapped
again = client.write(f"transit/decrypt/{name}", ciphertext=rewrapped["ciphertext"], associated_data=ad)["data"]
assert base64.b64decode(again["plaintext"]) == plaintext
plain_v2 = client.secrets.transit.rewrap_data(name=name, ciphertext=plain)["data"]["ciphertext"]
assert plain_v2.startswith("vault:v2:")

batch = client.secrets.transit.encrypt_data(
    name=name, plaintext="", batch_input=[{"plaintext": b64(b"one")}, {"plaintext": b64(b"two")}]
)["data"]["batch_results"]
assert [r["key_version"] for r in batch] == [2, 2], batch
decrypted = client.secrets.transit.decrypt_data(
    name=name, ciphertext="", batch_input=[{"ciphertext": r["ciphertext"]} for r in batch]
)["data"]["batch_results"]
assert [base64.b64decode(r["plaintext"]) for r in decrypted] == [b"one", b"two"], decrypted

# A wrong token is refused (403, hvac's Forbidden), and is not authenticated.
stranger = hvac.Client(url=address, token=os.environ["WRONG_TOKEN"], verify=ca)
assert stranger.is_authenticated() is False
try:
    stranger.secrets.transit.encrypt_data(name=name, plaintext=b64(b"x"))
    raise AssertionError("a wrong token encrypted")
except hvac.exceptions.Forbidden:
    pass

print(json.dumps({"ciphertext": sealed["ciphertext"], "rewrapped": rewrapped["ciphertext"], "associated_data": ad}))
sys.exit(0)
