"""Independent check of the issuance fixture's ICCIDs (ITU-T E.118, Luhn per ISO/IEC 7812-1 Annex B).

Reads one ICCID per line from the file named on the command line, checks each is 19 digits, starts with 89 and
passes the Luhn check, and that all are distinct; prints the number checked. Written from the standard, not from
the Rust code.

Usage: luhn_oracle.py <file>
"""

import sys


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def main() -> None:
    with open(sys.argv[1], encoding="ascii") as f:
        iccids = [line.strip() for line in f if line.strip()]
    for iccid in iccids:
        assert len(iccid) == 19 and iccid.isdigit(), iccid
        assert iccid.startswith("89"), iccid
        assert luhn_ok(iccid), f"Luhn fails: {iccid}"
    assert len(set(iccids)) == len(iccids), "duplicate ICCIDs"
    print(len(iccids))


if __name__ == "__main__":
    main()
