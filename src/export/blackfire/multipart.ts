import { randomBytes } from 'node:crypto';

export interface MultipartPart {
  name: string;
  filename: string;
  contentType: string;
  data: Uint8Array;
}

export function newBoundary(): string {
  return '----blackfire-otel-profiler-' + randomBytes(12).toString('hex');
}

/** Encodes parts as a `multipart/form-data` body (RFC 7578); pure, byte for byte. */
export function encodeMultipart(parts: MultipartPart[], boundary: string): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\n` +
          `Content-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n` +
          `Content-Type: ${part.contentType}\r\n\r\n`,
      ),
      Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}
