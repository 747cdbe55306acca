/**
 * Test helper: an MQTT client that records every message under a topic filter and waits for specific ones.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/** One received message (payload parsed as JSON when possible). */
export interface Received {
  topic: string;
  payload: unknown;
  retain: boolean;
  at: number;
}

/** Records messages; `waitFor` resolves with the first (past or future) message matching a predicate. */
export class Observer {
  readonly messages: Received[] = [];
  private waiters: { pred: (m: Received) => boolean; res: (m: Received) => void }[] = [];

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, buf, packet) => {
      let payload: unknown = buf.toString();
      try {
        payload = JSON.parse(buf.toString());
      } catch {
        // keep text
      }
      const m = { topic, payload, retain: packet.retain, at: Date.now() };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.res(m), false) : true));
    });
  }

  /** Connect and subscribe (QoS 1) to `filter`. Pass `clientId` + `clean: false` for a persistent session. */
  static async connect(url: string, filter: string | string[], opts: IClientOptions = {}): Promise<Observer> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, ...opts });
    const noDelay = (): void => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    noDelay();
    client.on('connect', noDelay);
    const o = new Observer(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return o;
  }

  /** Messages on `topic`. */
  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** First message matching (already received or arriving within `ms`). */
  waitFor(pred: (m: Received) => boolean, ms = 60_000, what = 'message'): Promise<Received> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      this.waiters.push({
        pred,
        res: (m) => {
          clearTimeout(t);
          res(m);
        },
      });
    });
  }

  /** The response to `transaction` on `<base>/bridge/response/audit`. */
  response(base: string, transaction: string | number, ms = 120_000): Promise<Received> {
    return this.waitFor(
      (m) =>
        m.topic === `${base}/bridge/response/audit` &&
        (m.payload as { transaction?: unknown }).transaction === transaction,
      ms,
      `response to ${transaction}`,
    );
  }

  async publish(topic: string, payload: unknown): Promise<void> {
    await this.client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), {
      qos: 1,
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
