//! Order files (CSV and SIM-vendor `.out`): valid files accepted, bad files refused as a whole with every bad row
//! named (line, column, reason), never a secret value.

use smdp::batch::{self, BatchErrors, BatchFormat, Problem};

/// Luhn check digit, written here independently of the crate (ISO/IEC 7812-1 Annex B).
fn luhn(body: &str) -> char {
    let sum: u32 = body
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    char::from_digit((10 - sum % 10) % 10, 10).unwrap()
}

fn iccid(i: u32) -> String {
    let body = format!("894400000000{i:07}");
    format!("{body}{}", luhn(&body))
}

const K: &str = "000102030405060708090A0B0C0D0E0F";
const OPC: &str = "F0E0D0C0B0A090807060504030201000";

fn csv_row(i: u32) -> String {
    format!(
        "{},{},{K},{OPC},1234,12345678,5678,87654321,0011223344556677",
        iccid(i),
        format_args!("00101{i:010}")
    )
}

const CSV_HEADER: &str = "ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1";

fn refused(bytes: &[u8], format: BatchFormat) -> BatchErrors {
    match batch::validate_file(bytes, format) {
        Err(e) => e,
        Ok(s) => panic!("accepted: {s:?}"),
    }
}

fn problem(line: u64, column: Option<&str>, reason: &str) -> Problem {
    Problem {
        line,
        column: column.map(str::to_string),
        reason: reason.to_string(),
    }
}

#[test]
fn valid_csv_with_optional_columns_in_any_order() {
    let csv = format!(
        "\u{feff}imsi,Iccid, ki ,opc,pin1,puk1,pin2,puk2,adm1,msisdn,comment,kic1,kid1,kik1\n\
         001010000000001,{},{K},{OPC},1234,12345678,56789,87654321,12345678,447700900001,first,{K},{OPC},{K}\n\
         \n\
         001010000000002,\"{}\",{K},{OPC},1234,12345678,5678,87654321,0011223344556677,,\"a, b\",{K},{OPC},{K}\n",
        iccid(1),
        iccid(2)
    );
    let summary = batch::validate_file(csv.as_bytes(), BatchFormat::Csv).unwrap();
    assert_eq!(
        (summary.rows, summary.has_msisdn, summary.has_ota_keys),
        (2, true, true)
    );
    let rows: Vec<_> = batch::rows(csv.as_bytes(), BatchFormat::Csv)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].line, rows[1].line), (2, 4));
    let r = &rows[0].record;
    assert_eq!(r.iccid, iccid(1));
    assert_eq!(r.imsi, "001010000000001");
    assert_eq!(r.k.expose(), hex::decode(K).unwrap());
    assert_eq!(r.opc.expose(), hex::decode(OPC).unwrap());
    assert_eq!(r.pin2.expose(), b"56789\xFF\xFF\xFF");
    assert_eq!(r.adm1.expose(), b"12345678");
    assert_eq!(r.msisdn.as_deref(), Some("447700900001"));
    assert_eq!(
        r.ota_keys.as_ref().unwrap().kid.expose(),
        hex::decode(OPC).unwrap()
    );
    let r = &rows[1].record;
    assert_eq!(r.adm1.expose(), hex::decode("0011223344556677").unwrap());
    assert_eq!(r.msisdn, None);
}

fn out_file(quantity: u32, rows: &[String]) -> String {
    let mut s = String::from(
        "***************************************\n\
         *          HEADER DESCRIPTION\n\
         ***************************************\n\
         Customer:        Example Telecom\n",
    );
    s.push_str(&format!("Quantity:        {quantity}\n"));
    s.push_str(
        "Type:            EXAMPLE_STANDARD\n\
         *\n\
         Transport_key:   11\n\
         *\n\
         PO_ref_number:   010748\n\
         ***************************************\n\
         *          INPUT VARIABLES DESCRIPTION\n\
         ***************************************\n\
         Var_In_List: \n\
         IMSI:001010000000001\n\
         \n\
         OUTPUT VARIABLES\n\
         var_out:ICCID/IMSI/PIN1/PUK1/PIN2/PUK2/ADM1/KI/OPC/Access_Control/Code Retailer\n",
    );
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.push_str("\n\n");
    s
}

fn out_row(i: u32) -> String {
    format!(
        "{}F 00101{i:010} 1234 12345678 1234 12345678 12345678 {K} {OPC} 0001 11",
        iccid(i)
    )
}

#[test]
fn valid_out_file() {
    let text = out_file(3, &[out_row(1), out_row(2), out_row(3)]);
    let summary = batch::validate_file(text.as_bytes(), BatchFormat::Out).unwrap();
    assert_eq!((summary.rows, summary.declared_quantity), (3, Some(3)));
    let rows: Vec<_> = batch::rows(text.as_bytes(), BatchFormat::Out)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].line, 19);
    assert_eq!(rows[2].record.iccid, iccid(3), "F filler stripped");
    assert_eq!(rows[2].record.imsi, "001010000000003");
    assert_eq!(rows[2].record.k.expose(), hex::decode(K).unwrap());
}

#[test]
fn bad_csv_rows_are_all_listed_without_values() {
    let mut bad_luhn = csv_row(3);
    bad_luhn.replace_range(
        19..20,
        if bad_luhn.as_bytes()[19] == b'0' {
            "1"
        } else {
            "0"
        },
    );
    let short_k = csv_row(4).replace(K, &K[..30]);
    let mut text = format!(
        "{CSV_HEADER}\n{}\n{}\n{bad_luhn}\n{short_k}\n",
        csv_row(1),
        csv_row(2)
    );
    text.push_str(&csv_row(1).replace("001010000000001", "001010000000099")); // line 6: ICCID of line 2
    text.push('\n');
    text.push_str("89440000000000000001,00101,1234\n"); // line 7: 3 fields
    let mut bytes = text.into_bytes();
    let mut non_utf8 = csv_row(8).into_bytes();
    non_utf8[25] = 0xFF; // line 8: inside the IMSI column
    bytes.extend_from_slice(&non_utf8);
    bytes.push(b'\n');
    bytes.extend_from_slice(
        csv_row(9)
            .replace("001010000000009", "001010000000002")
            .as_bytes(),
    ); // line 9: IMSI of line 3
    bytes.push(b'\n');
    let errors = refused(&bytes, BatchFormat::Csv);
    assert_eq!(
        errors.problems,
        vec![
            problem(4, Some("ICCID"), "bad Luhn check digit"),
            problem(5, Some("K"), "not 32 hex digits"),
            problem(6, Some("ICCID"), "duplicate of line 2"),
            problem(7, None, "3 fields, the header names 9"),
            problem(8, None, "not valid UTF-8"),
            problem(9, Some("IMSI"), "duplicate of line 3"),
        ]
    );
    assert_eq!((errors.total_problems, errors.bad_lines), (6, 6));
    let text = errors.to_string();
    assert!(
        text.starts_with("order file refused: 6 problem(s) on 6 line(s)"),
        "{text}"
    );
    for secret in [K, &K[..30], OPC, "12345678", "87654321", "0011223344556677"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn bad_out_rows_and_quantity() {
    let short_opc = out_row(2).replace(OPC, "F0E0");
    let three_fields = "89440000000000000001F 001010000000005 1234".to_string();
    let text = out_file(5, &[out_row(1), short_opc, three_fields, out_row(1)]);
    let errors = refused(text.as_bytes(), BatchFormat::Out);
    assert_eq!(
        errors.problems,
        vec![
            problem(5, Some("Quantity"), "declares 5 cards, the file has 4 rows"),
            problem(20, Some("OPC"), "not 32 hex digits"),
            problem(21, None, "3 fields, the header names 11"),
            problem(22, Some("ICCID"), "duplicate of line 19"),
            problem(22, Some("IMSI"), "duplicate of line 19"),
        ]
    );
    assert_eq!((errors.total_problems, errors.bad_lines), (5, 4));
}

#[test]
fn empty_files_and_broken_headers() {
    for format in [BatchFormat::Csv, BatchFormat::Out] {
        let errors = refused(b"", format);
        assert_eq!(errors.problems, vec![problem(0, None, "empty file")]);
    }
    let errors = refused(format!("{CSV_HEADER}\n").as_bytes(), BatchFormat::Csv);
    assert_eq!(errors.problems, vec![problem(0, None, "no card rows")]);

    let errors = refused(
        b"ICCID,IMSI,K,PIN1,PUK1,PIN2,PUK2,ADM1,KIC1\n",
        BatchFormat::Csv,
    );
    assert_eq!(
        errors.problems,
        vec![
            problem(1, Some("OPC"), "required column missing"),
            problem(
                1,
                Some("KIC1/KID1/KIK1"),
                "the OTA key columns must all be present or all absent"
            ),
        ]
    );
    let errors = refused(b"ICCID,IMSI,K,OPC,PIN\xFF1\n", BatchFormat::Csv);
    assert_eq!(errors.problems, vec![problem(1, None, "not valid UTF-8")]);

    let no_quantity = out_file(1, &[out_row(1)]).replace("Quantity:        1\n", "");
    let errors = refused(no_quantity.as_bytes(), BatchFormat::Out);
    assert_eq!(
        errors.problems,
        vec![problem(0, None, "the header has no Quantity")]
    );
    let errors = refused(b"ICCID IMSI\n", BatchFormat::Out);
    assert_eq!(
        errors.problems,
        vec![problem(
            1,
            None,
            "not an .out file: no *HEADER DESCRIPTION block first"
        )]
    );
}

#[test]
fn detailed_problems_are_capped_and_counted() {
    let mut text = format!("{CSV_HEADER}\n");
    for i in 0..250 {
        text.push_str(&csv_row(i).replace(",1234,", ",12,"));
        text.push('\n');
    }
    let errors = refused(text.as_bytes(), BatchFormat::Csv);
    assert_eq!(errors.problems.len(), batch::MAX_DETAILED_PROBLEMS);
    assert_eq!((errors.total_problems, errors.bad_lines), (250, 250));
    assert_eq!(
        errors.problems[0],
        problem(2, Some("PIN1"), "not 4 to 8 digits")
    );
    assert!(errors.to_string().ends_with("… and 150 more"));
}

/// `Var_Out : …` (any case, spaces around the colon) names the columns; a card row where the var_out line
/// belongs says that the var_out line is expected (before, a space before the colon was refused as "card row
/// before the var_out line").
#[test]
fn var_out_header_with_spaces_and_misplaced_rows() {
    let rows = [out_row(1), out_row(2)];
    for header in ["Var_Out : ", "VAR_OUT:", "var_out :"] {
        let text = out_file(2, &rows).replacen("var_out:", header, 1);
        let summary = batch::validate_file(text.as_bytes(), BatchFormat::Out)
            .unwrap_or_else(|e| panic!("{header:?}: {e}"));
        assert_eq!(summary.rows, 2, "{header:?}");
    }
    let text = out_file(2, &rows).replacen(
        "var_out:ICCID",
        &format!("{}\nvar_out:ICCID", out_row(9)),
        1,
    );
    let e = refused(text.as_bytes(), BatchFormat::Out);
    assert!(
        e.problems[0].reason.contains("expected the var_out line"),
        "{e}"
    );
}

/// A 10 MB CSV file with a stray quote on its first data row is refused with that row named (the field runs
/// on to the end of the file), read once: before, each line rescanned the whole record (47 s for 10 MB).
#[test]
fn stray_quote_in_a_large_file() {
    let header = "ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1\n";
    let mut text = String::from(header);
    let mut i = 0;
    while text.len() < 10 << 20 {
        let row = format!(
            "{},00101{i:010},{K},{OPC},1234,12345678,1234,12345678,12345678\n",
            iccid(i + 1)
        );
        if i == 0 {
            text.push_str(&row.replacen(',', ",\"", 1));
        } else {
            text.push_str(&row);
        }
        i += 1;
    }
    // With the default record limit (64 KiB) the open quote stops the file at line 2.
    let e = refused(text.as_bytes(), BatchFormat::Csv);
    assert_eq!(e.problems[0].line, 2, "{e}");
    assert!(
        e.problems[0].reason.contains("longer than 65536 bytes"),
        "{e}"
    );
    // With room for the whole file, the record is read to the end once and refused as unterminated.
    let limits = batch::Limits {
        max_record_bytes: 32 << 20,
    };
    let e = batch::validate_file_with(text.as_bytes(), BatchFormat::Csv, &limits, &mut |_| {})
        .unwrap_err();
    assert_eq!(e.problems[0].line, 2, "{e}");
    assert!(e.problems[0].reason.contains("unterminated"), "{e}");
}
