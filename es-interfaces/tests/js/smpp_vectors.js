// Independent SMPP 3.4 PDU vectors: encodes PDUs with the npm `smpp` package (node-smpp 0.5.1, its own
// encoder, no code shared with ours) and prints them as JSON [{name, hex}] for es-interfaces/tests/smpp_npm_vectors.rs.
// Usage: NODE_PATH=<node_modules> node smpp_vectors.js
'use strict';
const smpp = require('smpp');
const PDU = smpp.PDU;

const udhPacket = Buffer.from('027000' + '00150d1639121200000100000000000001aabbccddeeff0011', 'hex');
const vectors = [];
function add(name, command, options) {
  vectors.push({ name, hex: new PDU(command, options).toBuffer().toString('hex') });
}

add('bind_transceiver', 'bind_transceiver', {
  sequence_number: 1, system_id: 'smsr', password: 'secret', system_type: 'OTA',
  interface_version: 0x34, addr_ton: 1, addr_npi: 1, address_range: '4477',
});
add('bind_transmitter', 'bind_transmitter', {
  sequence_number: 2, system_id: 'tx', password: 'pw', system_type: '', interface_version: 0x34,
  addr_ton: 0, addr_npi: 0, address_range: '',
});
add('bind_receiver', 'bind_receiver', {
  sequence_number: 3, system_id: 'rx', password: 'pw', system_type: '', interface_version: 0x34,
  addr_ton: 0, addr_npi: 0, address_range: '^44',
});
add('bind_transceiver_resp', 'bind_transceiver_resp', {
  sequence_number: 1, system_id: 'TESTSMSC', sc_interface_version: 0x34,
});
add('bind_transmitter_resp', 'bind_transmitter_resp', { sequence_number: 2, system_id: 'SMSC' });
add('bind_receiver_resp', 'bind_receiver_resp', { sequence_number: 3, system_id: 'SMSC' });
add('bind_transceiver_resp_fail', 'bind_transceiver_resp', {
  sequence_number: 4, command_status: smpp.ESME_RINVPASWD,
});
add('outbind', 'outbind', { sequence_number: 5, system_id: 'SMSC', password: 'pw' });
add('unbind', 'unbind', { sequence_number: 6 });
add('unbind_resp', 'unbind_resp', { sequence_number: 6 });
add('enquire_link', 'enquire_link', { sequence_number: 7 });
add('enquire_link_resp', 'enquire_link_resp', { sequence_number: 7 });
add('generic_nack', 'generic_nack', { sequence_number: 8, command_status: smpp.ESME_RINVCMDID });
add('submit_sm_scp80', 'submit_sm', {
  sequence_number: 9, service_type: '', source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900999',
  dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '491701234567', esm_class: 0x40, protocol_id: 0x7F,
  priority_flag: 0, schedule_delivery_time: '', validity_period: '', registered_delivery: 1,
  replace_if_present_flag: 0, data_coding: 0xF6, sm_default_msg_id: 0, short_message: udhPacket,
});
add('submit_sm_payload', 'submit_sm', {
  sequence_number: 10, source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900999',
  dest_addr_ton: 1, dest_addr_npi: 1, destination_addr: '491701234567', esm_class: 0x40, protocol_id: 0x7F,
  registered_delivery: 1, data_coding: 0xF6, short_message: Buffer.alloc(0),
  message_payload: Buffer.alloc(300, 0xA5),
});
add('submit_sm_times', 'submit_sm', {
  sequence_number: 11, service_type: 'WAP', source_addr: 'SMSR', destination_addr: '4917012',
  schedule_delivery_time: '250101120000000+', validity_period: '000001000000000R', data_coding: 0,
  short_message: Buffer.from('hi', 'ascii'),
});
add('submit_sm_resp', 'submit_sm_resp', { sequence_number: 9, message_id: '5f3a9c01' });
add('submit_sm_resp_throttled', 'submit_sm_resp', {
  sequence_number: 10, command_status: smpp.ESME_RTHROTTLED,
});
add('deliver_sm_mo', 'deliver_sm', {
  sequence_number: 12, source_addr_ton: 1, source_addr_npi: 1, source_addr: '491701234567', dest_addr_ton: 1,
  dest_addr_npi: 1, destination_addr: '447700900999', esm_class: 0x40, protocol_id: 0x7F, data_coding: 0xF6,
  short_message: Buffer.from('027100000e0a000000000000000000000000', 'hex'),
});
add('deliver_sm_receipt', 'deliver_sm', {
  sequence_number: 13, source_addr_ton: 1, source_addr_npi: 1, source_addr: '491701234567', dest_addr_ton: 1,
  dest_addr_npi: 1, destination_addr: '447700900999', esm_class: 0x04, data_coding: 0,
  short_message: Buffer.from('id:5f3a9c01 sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 ' +
    'stat:DELIVRD err:000 Text:', 'ascii'),
  receipted_message_id: '5f3a9c01', message_state: 2, network_error_code: Buffer.from('030000', 'hex'),
});
add('deliver_sm_sar', 'deliver_sm', {
  sequence_number: 14, source_addr: '4917', destination_addr: '4477', data_coding: 0xF6,
  short_message: Buffer.from('00112233', 'hex'), sar_msg_ref_num: 0x1234, sar_total_segments: 2,
  sar_segment_seqnum: 1, source_port: 0x0B84,
});
add('deliver_sm_resp', 'deliver_sm_resp', { sequence_number: 12, message_id: '' });
process.stdout.write(JSON.stringify(vectors) + '\n');
