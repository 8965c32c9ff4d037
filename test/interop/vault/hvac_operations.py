"""Vault operations through Debian's python3-hvac, unmodified, against Custodian's Vault-compatible listener.

Run by test/interop/vault-api.test.ts with VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, WRONG_TOKEN and
KEY_NAME set. Every check is an assert here; what the Node test cross-checks (ciphertexts, the
associated data, signatures and the public keys read) is printed as one JSON object on the last line.
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

transit = client.secrets.transit

# Data keys: plaintext (the key and its ciphertext) and wrapped (the ciphertext only).
made = transit.generate_data_key(name=name, key_type="plaintext", bits=256)["data"]
assert len(base64.b64decode(made["plaintext"])) == 32 and made["ciphertext"].startswith("vault:v2:"), made
assert transit.decrypt_data(name=name, ciphertext=made["ciphertext"])["data"]["plaintext"] == made["plaintext"]
wrapped = transit.generate_data_key(name=name, key_type="wrapped", bits=512)["data"]
assert "plaintext" not in wrapped and wrapped["key_version"] == 2, wrapped
assert len(base64.b64decode(transit.decrypt_data(name=name, ciphertext=wrapped["ciphertext"])["data"]["plaintext"])) == 64

# HMAC and its verification (valid false, not an error, for another input or algorithm).
payload = b64(b"webhook body")
mac = transit.generate_hmac(name=name, hash_input=payload)["data"]["hmac"]
assert mac.startswith("vault:v2:"), mac
assert transit.verify_signed_data(name=name, hash_input=payload, hmac=mac)["data"]["valid"] is True
assert transit.verify_signed_data(name=name, hash_input=b64(b"forged"), hmac=mac)["data"]["valid"] is False
mac384 = transit.generate_hmac(name=name, hash_input=payload, algorithm="sha2-384")["data"]["hmac"]
assert len(base64.b64decode(mac384.split(":")[2])) == 48
assert transit.verify_signed_data(name=name, hash_input=payload, hmac=mac384, hash_algorithm="sha2-384")["data"]["valid"] is True
assert transit.verify_signed_data(name=name, hash_input=payload, hmac=mac384)["data"]["valid"] is False
macs = client.write(f"transit/hmac/{name}", batch_input=[{"input": payload}, {"input": b64(b"two")}])["data"]["batch_results"]
assert macs[0]["hmac"] == mac and macs[1]["hmac"] != mac, macs

# Sign and verify: Ed25519 and ECDSA P-256 (DER by default, JWS on request), batch too.
message = b"release 1.4.2 sha256:ab12"
signed = {}
for key_type in ("ed25519", "ecdsa-p256"):
    signer = f"{name}-{key_type}"
    transit.create_key(name=signer, key_type=key_type)
    info = transit.read_key(name=signer)["data"]
    assert info["type"] == key_type and info["supports_signing"] is True and info["supports_encryption"] is False, info
    signature = transit.sign_data(name=signer, hash_input=b64(message))["data"]["signature"]
    assert signature.startswith("vault:v1:"), signature
    assert transit.verify_signed_data(name=signer, hash_input=b64(message), signature=signature)["data"]["valid"] is True
    assert transit.verify_signed_data(name=signer, hash_input=b64(b"other"), signature=signature)["data"]["valid"] is False
    batch_signed = client.write(
        f"transit/sign/{signer}", batch_input=[{"input": b64(b"a"), "reference": "a"}, {"input": b64(b"b")}]
    )["data"]["batch_results"]
    assert [r["key_version"] for r in batch_signed] == [1, 1] and batch_signed[0]["reference"] == "a", batch_signed
    checked = client.write(
        f"transit/verify/{signer}",
        batch_input=[
            {"input": b64(b"a"), "signature": batch_signed[0]["signature"]},
            {"input": b64(b"a"), "signature": batch_signed[1]["signature"]},
        ],
    )["data"]["batch_results"]
    assert [r["valid"] for r in checked] == [True, False], checked
    signed[key_type] = {"public_key": info["keys"]["1"]["public_key"], "signature": signature}
    try:
        transit.encrypt_data(name=signer, plaintext=b64(b"x"))
        raise AssertionError("a signing key encrypted")
    except hvac.exceptions.InvalidRequest:
        pass
jws = transit.sign_data(name=f"{name}-ecdsa-p256", hash_input=b64(message), marshaling_algorithm="jws")["data"]["signature"]
assert "+" not in jws and "/" not in jws and not jws.endswith("="), jws
assert transit.verify_signed_data(
    name=f"{name}-ecdsa-p256", hash_input=b64(message), signature=jws, marshaling_algorithm="jws"
)["data"]["valid"] is True

# Minimum decryption version: a v1 ciphertext is refused once min_decryption_version is 2.
minimum = f"{name}-min"
transit.create_key(name=minimum)
old = transit.encrypt_data(name=minimum, plaintext=b64(b"old"))["data"]["ciphertext"]
transit.rotate_key(name=minimum)
transit.update_key_configuration(name=minimum, min_decryption_version=2)
assert transit.read_key(name=minimum)["data"]["min_decryption_version"] == 2
try:
    transit.decrypt_data(name=minimum, ciphertext=old)
    raise AssertionError("decrypted below min_decryption_version")
except hvac.exceptions.InvalidRequest as error:
    assert "disallowed by policy (too old)" in str(error), str(error)

# Export refused, whatever is asked; exportable cannot be set.
for export_type in ("encryption-key", "hmac-key", "signing-key"):
    try:
        transit.export_key(name=name, key_type=export_type)
        raise AssertionError("exported key material")
    except hvac.exceptions.InvalidRequest as error:
        assert "not exportable" in str(error), str(error)
try:
    transit.update_key_configuration(name=name, exportable=True)
    raise AssertionError("made a key exportable")
except hvac.exceptions.InvalidRequest:
    pass
assert transit.read_key(name=name)["data"]["exportable"] is False

# A wrong token is refused (403, hvac's Forbidden), and is not authenticated.
stranger = hvac.Client(url=address, token=os.environ["WRONG_TOKEN"], verify=ca)
assert stranger.is_authenticated() is False
try:
    stranger.secrets.transit.encrypt_data(name=name, plaintext=b64(b"x"))
    raise AssertionError("a wrong token encrypted")
except hvac.exceptions.Forbidden:
    pass

print(
    json.dumps(
        {
            "ciphertext": sealed["ciphertext"],
            "rewrapped": rewrapped["ciphertext"],
            "associated_data": ad,
            "message": b64(message),
            "signed": signed,
        }
    )
)
sys.exit(0)
