// An independent ESME for conformance/tests/smsc_npm_client.rs, built on the npm `smpp` package (node-smpp 0.5.1):
// binds as transceiver (interface_version 0x34) to our test SMSC, submits a binary SMS (esm_class 0x40,
// protocol_id 0x7F, data_coding 0xF6, registered_delivery 1), takes the delivery receipt and an MO deliver_sm,
// answers both, then enquire_link and unbind. Every step is printed as one JSON line; a failed check exits non-zero.
// Usage: NODE_PATH=<node_modules> node npm_esme.js <port> <TP-UD hex> <destination MSISDN>
'use strict';
const assert = require('assert');
const smpp = require('smpp');

const [port, tpHex, dest] = process.argv.slice(2);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// node-smpp splits a UDHI short_message into {udh: [IE...], message}; put the octets back together.
function rawShortMessage(pdu) {
  const sm = pdu.short_message;
  if (Buffer.isBuffer(sm)) return sm;
  if (sm.udh) {
    const ies = Buffer.concat(sm.udh);
    return Buffer.concat([Buffer.from([ies.length]), ies, sm.message]);
  }
  return Buffer.isBuffer(sm.message) ? sm.message : Buffer.from(sm.message, 'latin1');
}

const session = smpp.connect({ host: '127.0.0.1', port: Number(port) });
session.on('error', function (e) { out({ event: 'error', message: String(e) }); process.exit(2); });
session.on('close', function () { out({ event: 'closed' }); });

session.bind_transceiver({
  system_id: 'esme', password: 'pw', system_type: 'NODE', interface_version: 0x34,
}, function (pdu) {
  out({
    event: 'bind_resp', command_status: pdu.command_status, system_id: pdu.system_id,
    sc_interface_version: pdu.sc_interface_version,
  });
  assert.strictEqual(pdu.command_status, 0, 'bind accepted');
  session.submit_sm({
    source_addr_ton: 1, source_addr_npi: 1, source_addr: '4477009',
    dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: dest,
    esm_class: 0x40, protocol_id: 0x7f, registered_delivery: 1, data_coding: 0xf6,
    short_message: Buffer.from(tpHex, 'hex'),
  }, function (resp) {
    out({ event: 'submit_sm_resp', command_status: resp.command_status, message_id: resp.message_id });
    assert.strictEqual(resp.command_status, 0, 'submit accepted');
  });
});

let receipt = false;
let mo = false;
session.on('deliver_sm', function (pdu) {
  session.send(pdu.response());
  if ((pdu.esm_class & 0x3c) === 0x04) {
    const text = pdu.short_message.message;
    out({
      event: 'receipt', text: String(text), receipted_message_id: pdu.receipted_message_id,
      message_state: pdu.message_state, source_addr: pdu.source_addr, destination_addr: pdu.destination_addr,
    });
    receipt = true;
    out({ event: 'ready_for_mo' });
  } else {
    out({
      event: 'mo', esm_class: pdu.esm_class, protocol_id: pdu.protocol_id, data_coding: pdu.data_coding,
      source_addr: pdu.source_addr, destination_addr: pdu.destination_addr,
      short_message: rawShortMessage(pdu).toString('hex'),
    });
    mo = true;
  }
  if (receipt && mo) {
    session.enquire_link({}, function (resp) {
      out({ event: 'enquire_link_resp', command_status: resp.command_status });
      session.unbind({}, function (resp2) {
        out({ event: 'unbind_resp', command_status: resp2.command_status });
        session.close();
      });
    });
  }
});
setTimeout(function () { out({ event: 'timeout' }); process.exit(3); }, 60000).unref();
