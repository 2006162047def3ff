//! The tools testkit installs on first use run: xmllint validates and refuses against a schema, and headless
//! Chromium renders a page (its DOM after layout, and a PNG screenshot).

use std::process::Command;

#[test]
fn xmllint_validates_and_refuses() {
    let dir = testkit::tempdir_in_tools("xmllint");
    std::fs::write(
        dir.join("s.xsd"),
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="n" type="xs:int"/></xs:schema>"#,
    )
    .expect("schema");
    std::fs::write(dir.join("good.xml"), "<n>42</n>").expect("good");
    std::fs::write(dir.join("bad.xml"), "<n>forty-two</n>").expect("bad");
    let out = Command::new(testkit::xmllint())
        .args([
            "--nonet", "--noout", "--schema", "s.xsd", "good.xml", "bad.xml",
        ])
        .current_dir(&dir)
        .output()
        .expect("run xmllint");
    let text = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(text.contains("good.xml validates"), "{text}");
    assert!(text.contains("bad.xml fails to validate"), "{text}");
    assert!(!out.status.success());
}

#[test]
fn chromium_renders_a_page_headless() {
    let dir = testkit::tempdir_in_tools("chromium-page");
    let page = dir.join("p.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p id=\"x\"></p><style>p{width:40px;height:40px;background:#d1342f}</style>\
         <script>document.getElementById('x').textContent = 'rendered ' + (6 * 7);</script></body></html>",
    )
    .expect("page");
    let url = format!("file://{}", page.display());
    let dom = testkit::chromium_headless(&url, "--dump-dom", 400, 300);
    assert!(dom.contains("rendered 42"), "{dom}");
    let png = dir.join("p.png");
    testkit::chromium_headless(&url, &format!("--screenshot={}", png.display()), 400, 300);
    let bytes = std::fs::read(&png).expect("screenshot written");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height of the window.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 400);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 300);
}
