import t from 'tap';
import { hideUrlPassword, isSecretName, redact } from '../src/secret-names.js';

const IGD = 'InternetGatewayDevice.';
const WLAN = `${IGD}LANDevice.1.WLANConfiguration.1.`;
const AP = 'Device.WiFi.AccessPoint.1.';

/** TR-098 and TR-181 parameters whose values are secrets (the data models hide them on read), and vendor ones. */
const SECRET = [
  `${IGD}ManagementServer.Password`,
  `${IGD}ManagementServer.ConnectionRequestPassword`,
  `${IGD}ManagementServer.STUNPassword`,
  'Device.ManagementServer.Password',
  'Device.ManagementServer.ConnectionRequestPassword',
  'Device.ManagementServer.STUNPassword',
  `${IGD}WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.Password`,
  'Device.PPP.Interface.1.Password',
  `${WLAN}KeyPassphrase`,
  `${WLAN}PreSharedKey.1.PreSharedKey`,
  `${WLAN}PreSharedKey.1.KeyPassphrase`,
  `${WLAN}WEPKey.1.WEPKey`,
  `${WLAN}WPS.DevicePassword`,
  `${AP}Security.KeyPassphrase`,
  `${AP}Security.PreSharedKey`,
  `${AP}Security.WEPKey`,
  `${AP}Security.SAEPassphrase`,
  `${AP}Security.RadiusSecret`,
  `${AP}Security.SecondaryRadiusSecret`,
  `${AP}WPS.PIN`,
  'Device.WiFi.EndPoint.1.Profile.1.Security.KeyPassphrase',
  `${IGD}User.1.Password`,
  'Device.Users.User.1.Password',
  `${IGD}LANConfigSecurity.ConfigPassword`,
  'Device.LANConfigSecurity.ConfigPassword',
  'Device.Cellular.Interface.1.USIM.PIN',
  'Device.Cellular.AccessPoint.1.Password',
  'Device.IEEE8021x.Supplicant.1.Password',
  'Device.IEEE8021x.Supplicant.1.EAPMD5.1.SharedSecret',
  'Device.MQTT.Client.1.Password',
  'Device.XMPP.Connection.1.Password',
  'Device.BulkData.Profile.1.Password',
  'Device.Services.VoiceService.1.SIP.Client.1.AuthPassword',
  `${IGD}Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthPassword`,
  // Vendor extensions and spellings seen in CPE firmware.
  `${AP}Security.KeyPassPhrase`,
  `${AP}Security.X_IOWRT_EU_KeyPassphrase`,
  `${WLAN}WPS.X_TWSZ-COM_PeerPassword`,
  `${WLAN}X_ACME_WpsPin`,
  `${WLAN}X_ACME_WPAPSK`,
  `${IGD}X_ACME_Admin.password`,
  `${IGD}X_ACME_Tls.PrivateKey`,
  // stbd's own fields.
  'password',
  'stunPassword',
  'cwmpPassword',
];

/** Their neighbours: flags, counters and names that only look alike. */
const NOT_SECRET = [
  `${IGD}UserInterface.PasswordRequired`,
  `${IGD}UserInterface.PasswordUserSelectable`,
  'Device.UserInterface.PasswordReset',
  `${WLAN}WEPKeyIndex`,
  `${WLAN}WEPEncryptionLevel`,
  `${WLAN}PreSharedKey.1.AssociatedDeviceMACAddress`,
  `${WLAN}PreSharedKey.1.`,
  `${WLAN}WEPKey.1.`,
  'Device.Cellular.Interface.1.USIM.PINCheck',
  `${IGD}ManagementServer.Username`,
  `${IGD}ManagementServer.STUNUsername`,
  `${IGD}ManagementServer.ConnectionRequestUsername`,
  `${IGD}ManagementServer.ParameterKey`,
  `${IGD}ManagementServer.STUNEnable`,
  `${AP}Security.ModeEnabled`,
  `${AP}Security.RekeyingInterval`,
  `${AP}Security.RadiusServerIPAddr`,
  `${AP}Security.MFPConfig`,
  `${AP}WPS.ConfigMethodsEnabled`,
  'Device.WiFi.SSID.1.SSID',
  `${IGD}IPPingDiagnostics.NumberOfRepetitions`,
  `${IGD}X_ACME_Diagnostics.EnablePing`,
  `${IGD}X_ACME_Mapping.Spin`,
  'Device.DeviceInfo.ProvisioningCode',
  'username',
  'url',
];

t.test('one list of secret names, checked against TR-098 and TR-181 names', async (t) => {
  for (const name of SECRET) t.ok(isSecretName(name), `secret: ${name}`);
  for (const name of NOT_SECRET) t.notOk(isSecretName(name), `not secret: ${name}`);
});

t.test('URL userinfo: the password hidden, the user kept; userinfo alone (a token) hidden whole', async (t) => {
  t.equal(hideUrlPassword('https://user:pass@files.example.net/fw.bin'), 'https://user:(secret)@files.example.net/fw.bin');
  t.equal(hideUrlPassword('ftp://token@host:21/x'), 'ftp://(secret)@host:21/x');
  t.equal(hideUrlPassword('https://files.example.net/fw.bin?user=a@b'), 'https://files.example.net/fw.bin?user=a@b', 'an @ after the host is not userinfo');
  t.equal(hideUrlPassword('http://h/'), 'http://h/');
});

t.test('redact: secret fields, {name, value} pairs and URLs, deep; the same object back when nothing is secret', async (t) => {
  const plain = { kind: 'getParameterValues', names: [`${WLAN}KeyPassphrase`], n: 3 };
  t.equal(redact(plain), plain, 'a name alone is not a secret');
  const request = { kind: 'download', url: 'https://u:p@h/f', username: 'u', password: 'p', values: [{ name: `${WLAN}KeyPassphrase`, value: 'k', type: 'xsd:string' }, { name: `${WLAN}SSID`, value: 's' }] };
  const shown = redact(request);
  t.same(shown, { kind: 'download', url: 'https://u:(secret)@h/f', username: 'u', password: '(secret)', values: [{ name: `${WLAN}KeyPassphrase`, value: '(secret)', type: 'xsd:string' }, { name: `${WLAN}SSID`, value: 's' }] });
  t.equal(request.password, 'p', 'the original is left as it was');
  t.equal(shown.values[1], request.values[1], 'unchanged parts are shared');
  t.same(redact({ name: `${WLAN}KeyPassphrase`, value: '' }), { name: `${WLAN}KeyPassphrase`, value: '' }, 'an empty secret (what CPEs answer) stays empty');
  const err = new Error('password: x');
  t.equal(redact({ err }).err, err, 'objects of other kinds are left alone');
  t.same(redact({ token: 't', key: 'k' }, new Set(['token'])), { token: '(secret)', key: 'k' }, 'extra field names');
});
