/**
 * Stored files: what `file_id` and `file_unique_id` point at, the `file_path` getFile
 * hands out, and the bytes behind `/file/bot<token>/<file_path>`. Ids are opaque
 * strings like the real ones; the fake keeps one id per stored file (the real server
 * gives each bot its own file_id for the same file, while file_unique_id is shared).
 */
import { randomBytes } from "node:crypto";

/** One stored file. */
export interface StoredFile {
  fileId: string;
  fileUniqueId: string;
  /** Folder of `file_path`, by kind as on the real server: photos, documents, voice, ... */
  folder: string;
  extension: string;
  data: Buffer;
  /** For a file sent "by URL": the URL the bot gave. The fake never fetches it. */
  sourceUrl?: string;
  filePath?: string;
}

const EXTENSIONS: Record<string, string> = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/webp": "webp",
  "audio/ogg": "oga",
  "audio/mpeg": "mp3",
  "video/mp4": "mp4",
  "application/pdf": "pdf",
  "text/plain": "txt",
};

/** The extension a file of this name or type gets in its file_path. */
export function extensionFor(filename: string | undefined, mimeType: string | undefined): string {
  const fromName = filename === undefined ? undefined : /\.([a-z0-9]{1,8})$/i.exec(filename)?.[1];
  return fromName?.toLowerCase() ?? EXTENSIONS[mimeType ?? ""] ?? "bin";
}

/** All files known to one fake server. */
export class FileStore {
  private readonly byId = new Map<string, StoredFile>();
  private readonly byPath = new Map<string, StoredFile>();
  private pathCounter = 0;

  /** Stores bytes and returns the new file. */
  add(data: Buffer, folder: string, extension: string, sourceUrl?: string): StoredFile {
    const file: StoredFile = {
      // Real file_ids are long base64url strings starting with a type-dependent prefix.
      fileId: `AgAC${randomBytes(24).toString("base64url")}`,
      fileUniqueId: `AQAD${randomBytes(8).toString("base64url")}`,
      folder,
      extension,
      data,
      ...(sourceUrl !== undefined ? { sourceUrl } : {}),
    };
    this.byId.set(file.fileId, file);
    return file;
  }

  /** The file with this file_id, if any. */
  get(fileId: string): StoredFile | undefined {
    return this.byId.get(fileId);
  }

  /** Gives the file a download path (once) and returns it, as getFile does. */
  pathOf(file: StoredFile): string {
    if (file.filePath === undefined) {
      file.filePath = `${file.folder}/file_${this.pathCounter++}.${file.extension}`;
      this.byPath.set(file.filePath, file);
    }
    return file.filePath;
  }

  /** The file behind a download path, if getFile handed that path out. */
  byFilePath(path: string): StoredFile | undefined {
    return this.byPath.get(path);
  }
}
