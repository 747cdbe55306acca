/**
 * Home Assistant MQTT discovery: one `sensor` per audited speaker whose state is the verdict and whose
 * attributes are the rest of `<base>/<speaker>`; available while `<base>/bridge/state` is online.
 * (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery)
 */
import { topicOf } from './topics.js';

/** A discovery message: retained config on `<prefix>/sensor/<node>/<object>/config`. */
export interface DiscoveryMessage {
  topic: string;
  payload: Record<string, unknown>;
}

/**
 * The discovery config of one speaker's verdict sensor.
 * @param prefix discovery prefix (Home Assistant default `homeassistant`)
 * @param base the daemon's base topic
 * @param deviceId device id (one HA device per daemon)
 * @param speaker speaker id (letters, digits, `_ . -`)
 */
export function speakerDiscovery(
  prefix: string,
  base: string,
  deviceId: string,
  speaker: string,
  version: string,
): DiscoveryMessage {
  const node = `slmia_${deviceId}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const object = `speaker_${speaker}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const state = topicOf(base, '{speaker}', speaker);
  return {
    topic: `${prefix}/sensor/${node}/${object}/config`,
    payload: {
      name: `Membership ${speaker}`,
      unique_id: `${node}_${object}`,
      object_id: `${node}_${object}`,
      state_topic: state,
      value_template: '{{ value_json.verdict }}',
      json_attributes_topic: state,
      availability_topic: topicOf(base, 'bridge/state'),
      availability_template: '{{ value_json.state }}',
      payload_available: 'online',
      payload_not_available: 'offline',
      icon: 'mdi:account-voice',
      device: {
        identifiers: [node],
        name: `SLMIA auditor ${deviceId}`,
        manufacturer: 'slmia-auditor',
        model: 'SLMIA-SR speaker-level membership auditor',
        sw_version: version,
      },
    },
  };
}
