// An independent SMSC for smsr/tests/smpp_npm_smsc.rs, built on the npm `smpp` package (node-smpp 0.5.1).
// It accepts one bind_transceiver from system_id "smsr" / password "secret" with interface_version 0x34, checks the
// binary submit_sm of docs/wire-profile.md §2 (esm_class 0x40, protocol_id 0x7F, data_coding 0xF6,
// registered_delivery 1, short_message = the expected TP-UD), answers it, then sends a delivery receipt and an MO
// deliver_sm, and an enquire_link. Every step is printed as one JSON line; a failed check exits non-zero.
// Usage: NODE_PATH=<node_modules> node npm_smsc.js <expected TP-UD hex> <expected destination> <MO TP-UD hex>
'use strict';
const assert = require('assert');
const smpp = require('smpp');

const [expectedHex, expectedDest, moHex] = process.argv.slice(2);
const MESSAGE_ID = 'npm-0001';

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

const server = smpp.createServer(function (session) {
  session.on('error', function (e) { out({ event: 'error', message: String(e) }); });
  session.on('bind_transceiver', function (pdu) {
    out({
      event: 'bind', system_id: pdu.system_id, system_type: pdu.system_type,
      interface_version: pdu.interface_version,
    });
    if (pdu.system_id !== 'smsr' || pdu.password !== 'secret' || pdu.interface_version !== 0x34) {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    session.send(pdu.response({ system_id: 'NPMSMSC' }));
  });
  session.on('submit_sm', function (pdu) {
    const sm = rawShortMessage(pdu);
    const seen = {
      event: 'submit_sm', esm_class: pdu.esm_class, protocol_id: pdu.protocol_id, data_coding: pdu.data_coding,
      registered_delivery: pdu.registered_delivery, dest_addr_ton: pdu.dest_addr_ton,
      dest_addr_npi: pdu.dest_addr_npi, destination_addr: pdu.destination_addr, source_addr: pdu.source_addr,
      short_message: sm.toString('hex'),
    };
    out(seen);
    assert.strictEqual(seen.esm_class, 0x40, 'esm_class');
    assert.strictEqual(seen.protocol_id, 0x7f, 'protocol_id');
    assert.strictEqual(seen.data_coding, 0xf6, 'data_coding');
    assert.strictEqual(seen.registered_delivery, 1, 'registered_delivery');
    assert.strictEqual(seen.destination_addr, expectedDest, 'destination_addr');
    assert.strictEqual(seen.short_message, expectedHex.toLowerCase(), 'short_message');
    session.send(pdu.response({ message_id: MESSAGE_ID }));

    session.deliver_sm({
      source_addr_ton: 1, source_addr_npi: 1, source_addr: pdu.destination_addr,
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: pdu.source_addr,
      esm_class: 0x04, data_coding: 0,
      short_message: Buffer.from('id:' + MESSAGE_ID + ' sub:001 dlvrd:001 submit date:2501011200 ' +
        'done date:2501011201 stat:DELIVRD err:000 text:', 'ascii'),
      receipted_message_id: MESSAGE_ID, message_state: smpp.consts.MESSAGE_STATE.DELIVERED,
    }, function (resp) { out({ event: 'deliver_sm_resp', kind: 'receipt', command_status: resp.command_status }); });

    session.deliver_sm({
      source_addr_ton: 1, source_addr_npi: 1, source_addr: pdu.destination_addr,
      dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: pdu.source_addr,
      esm_class: 0x40, protocol_id: 0x7f, data_coding: 0xf6, short_message: Buffer.from(moHex, 'hex'),
    }, function (resp) { out({ event: 'deliver_sm_resp', kind: 'mo', command_status: resp.command_status }); });

    session.enquire_link({}, function (resp) {
      out({ event: 'enquire_link_resp', command_status: resp.command_status });
    });
  });
  session.on('enquire_link', function (pdu) { session.send(pdu.response()); });
  session.on('unbind', function (pdu) {
    out({ event: 'unbind' });
    session.send(pdu.response());
    session.close();
    server.close();
  });
});

server.listen(0, '127.0.0.1', function () {
  out({ event: 'listening', port: server.address().port });
});
setTimeout(function () { out({ event: 'timeout' }); process.exit(3); }, 60000).unref();
