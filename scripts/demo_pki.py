"""Make the demo national PKI (fictional) into a folder: ``python scripts/demo_pki.py OUT_DIR``.

To let idp accept its citizens' certificates, copy ``OUT_DIR/root-ca.pem`` into the trust folder
(``keys/trust/``) and point ``IDP_SIGNATURE_CRL_SOURCES`` at ``OUT_DIR`` (or publish the CRLs at
``--base-url``). See :mod:`idp.signatures.demo_pki` for what is made.
"""

from __future__ import annotations

import argparse

from idp.signatures.demo_pki import DEFAULT_PASSWORD, make_demo_pki


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder to write into (created if missing)")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/demo-pki",
                        help="where the CRLs will be published (named in the certificates)")
    parser.add_argument("--ocsp-url", default=None, help="OCSP responder to name in the certificates")
    parser.add_argument("--password", default=DEFAULT_PASSWORD, help="PKCS#12 password")
    args = parser.parse_args(argv)
    manifest = make_demo_pki(args.out_dir, base_url=args.base_url, ocsp_url=args.ocsp_url,
                             password=args.password)
    for citizen in manifest["citizens"]:
        print(f"{citizen['p12']:<12} {citizen['status']:<16} {citizen['key']:<8} "
              f"CCCD:{citizen['identifier']}")
    print(f"trust anchor: {args.out_dir}/root-ca.pem   PKCS#12 password: {args.password}")


if __name__ == "__main__":
    main()
