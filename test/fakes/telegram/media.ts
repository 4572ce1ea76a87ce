/**
 * Media metadata the server derives from uploaded bytes: image dimensions (read from
 * PNG and JPEG headers) and the PhotoSize ladder Telegram generates for a photo.
 */

/** Width and height of a PNG or JPEG, or undefined for other data. */
export function imageSize(data: Buffer): { width: number; height: number } | undefined {
  // PNG: signature, then the IHDR chunk with big-endian width and height.
  if (
    data.length >= 24 &&
    data.readUInt32BE(0) === 0x89504e47 &&
    data.toString("latin1", 12, 16) === "IHDR"
  ) {
    return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  // JPEG: walk the segments to the first start-of-frame marker.
  if (data.length >= 4 && data[0] === 0xff && data[1] === 0xd8) {
    let i = 2;
    while (i + 9 < data.length) {
      if (data[i] !== 0xff) return undefined;
      const marker = data[i + 1]!;
      const length = data.readUInt16BE(i + 2);
      const isFrame = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
      if (isFrame) return { height: data.readUInt16BE(i + 5), width: data.readUInt16BE(i + 7) };
      i += 2 + length;
    }
  }
  return undefined;
}

/**
 * The sizes of the PhotoSize array for an image of this size: Telegram stores scaled
 * copies whose longest side is 90, 320, 800 and 1280 pixels (the original size capped
 * at 2560 when it is larger), smallest first.
 */
export function photoLadder(width: number, height: number): { width: number; height: number }[] {
  const longest = Math.max(width, height, 1);
  const sides = [90, 320, 800, 1280, 2560].filter((side) => side < longest);
  sides.push(Math.min(longest, 2560));
  return [...new Set(sides)].map((side) => {
    const scale = side / longest;
    return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
  });
}
